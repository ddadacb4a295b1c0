"""The core's import graph, read from its source: no module imports one that imports it back, and
no chain of imports is more than seven modules long, so a reader can learn the core bottom up."""
import ast
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import dae_core

CORE = Path(dae_core.__file__).parent
FLOORS = 7  # errors and paths at the bottom, the command line at the top


def module_name(path: Path) -> str:
    parts = ["dae_core", *path.relative_to(CORE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The core modules `path` imports, at any depth of its code (a deferred import is still an edge)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def core_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in CORE.rglob("*.py") if p.name != "__main__.py"}
    graph = {name: imports_of(path, set(paths)) - {name} for name, path in paths.items()}
    for name in graph:  # a package's __init__ is not a floor of its own modules
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    return graph


def test_no_relative_imports_hide_edges():
    """The graph is read from absolute imports; a relative one would be missed."""
    relative = [str(p.relative_to(CORE)) for p in CORE.rglob("*.py")
                if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(p.read_text())))]
    assert relative == []


def circle(graph: dict[str, set[str]]) -> list[str]:
    """An import circle of the graph, or [] where there is none."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as e:
        return e.args[1]
    return []


def test_the_core_has_no_import_circle():
    assert circle(core_graph()) == []


def test_a_circle_is_found():
    assert set(circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()})) == {"a", "b", "c"}
    assert circle({"a": {"b"}, "b": set()}) == []


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """A longest chain of imports of a graph without circles, the importing module first."""
    @cache
    def chain(name: str) -> tuple[str, ...]:
        return (name, *max((chain(d) for d in sorted(graph[name])), key=len, default=()))

    return list(max((chain(n) for n in sorted(graph)), key=len, default=()))


def test_the_core_has_at_most_seven_floors():
    chain = longest_chain(core_graph())
    assert len(chain) <= FLOORS, f"{len(chain)} floors, more than {FLOORS}: {' -> '.join(chain)}"


def test_a_longest_chain_is_found():
    graph = {"a": {"b", "c"}, "b": {"d"}, "c": set(), "d": set(), "e": {"a"}, "f": {"d"}}
    assert longest_chain(graph) == ["e", "a", "b", "d"]
    assert longest_chain({"a": set()}) == ["a"]
    assert longest_chain({}) == []
