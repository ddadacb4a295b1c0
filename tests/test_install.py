"""The installed package: the `dae` command, imports from anywhere, every import declared in
pyproject.toml, no edits of the import path, and no blanket silencing of deprecations in the tests."""
import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

from dae_core.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
BIN = Path(sys.executable).parent
SOURCES = [p for p in ROOT.rglob("*.py")
           if not any(part.startswith(".") or part in ("build", "__pycache__")
                      for part in p.relative_to(ROOT).parts)]


def declared(requirements: list[str]) -> set[str]:
    """Normalised distribution names of requirement strings ("scikit-learn>=1.4,<2" -> "scikit-learn")."""
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def imported(files: list[Path]) -> set[str]:
    """Top-level names of the absolute imports in `files` (inside functions too)."""
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def undeclared(files: list[Path], requirements: list[str]) -> list[str]:
    """Third-party modules imported by `files` whose distribution is not among `requirements`."""
    ours = set(PYPROJECT["tool"]["setuptools"]["packages"]) | {p.stem for p in SOURCES}
    dists = importlib.metadata.packages_distributions()
    wanted = declared(requirements)
    return sorted(name for name in imported(files) - ours - set(sys.stdlib_module_names)
                  if not {d.lower().replace("_", "-") for d in dists.get(name, [name])} & wanted)


@pytest.mark.slow  # starts another Python process
def test_the_dae_command_is_declared_and_runs():
    assert PROJECT["scripts"]["dae"] == "dae_core.cli:main"
    done = subprocess.run([str(BIN / "dae"), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: dae ")


@pytest.mark.slow  # starts another Python process
def test_the_packages_import_from_another_folder(tmp_path):
    """Installed, not found through the current folder: the same as a Ray worker's imports."""
    code = "import dae_core, dae_harness.browser, ui; print(dae_harness.browser.ROOT)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(ROOT)
    done = subprocess.run([sys.executable, "-m", "dae_core", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "train" in done.stdout, done.stderr[-2000:]


@pytest.mark.slow  # takes seconds
def test_every_import_of_the_app_is_a_declared_dependency():
    app = [p for p in SOURCES if p.relative_to(ROOT).parts[0] in ("dae_core", "ui", "app_pages")]
    app += [ROOT / "streamlit_app.py", ROOT / "app_menu.py"]
    assert undeclared(app, PROJECT["dependencies"]) == []


@pytest.mark.slow  # takes seconds
def test_tests_and_benchmarks_need_only_the_dev_extra_beside():
    rest = [p for p in SOURCES if p.relative_to(ROOT).parts[0] in ("tests", "benchmarks", "dae_harness")]
    requirements = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]
    assert undeclared(rest, requirements) == []


def test_the_requirements_files_install_the_project():
    lines = lambda name: [ln for ln in (ROOT / name).read_text().splitlines()  # noqa: E731
                          if ln.strip() and not ln.startswith("#")]
    assert lines("requirements.txt") == ["-e ."]
    assert lines("requirements-dev.txt") == ["-e .[dev]"]


def test_no_file_edits_the_import_path():
    pattern = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\s*[+]?=")
    assert [str(p.relative_to(ROOT)) for p in SOURCES if pattern.search(p.read_text())] == []


@pytest.mark.parametrize("module", ["dae_core.train", "ui.sidebar"])
def test_a_deprecation_from_our_code_is_not_hidden(module):
    """pytest's warning filters let a DeprecationWarning raised in (or by an API called from) our
    own modules through, to the report."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("an old call", DeprecationWarning, "x.py", 1, module=module)
    assert [str(w.message) for w in caught] == ["an old call"]
