"""The README's commands name real commands, flags and files, so the README cannot drift from the code.

Each command of its ```bash blocks (and each inline `.venv/bin/...` command) is checked without
running it: `python -m dae_core ...` is parsed by the real CLI parser, `python benchmarks/X.py`
must exist and list every flag used in its --help, files named by `streamlit run` and `pip -r`
must exist, and nothing may write over a shipped checkpoint. The docs' ```bash blocks get the same
checks. Also: the README's size, its links, its package map, and no words about how it was made.
"""
import json
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from dae_core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = (README, ROOT / "docs" / "speed.md", ROOT / "docs" / "security.md")
MAX_CHARS = 10_600
# Words about the making of the tool, which a user's README has no use for.
PROCESS_WORDS = ("stop 11", "stops 1", "target", "issue", "house rules", "gpu was lent")
SETUP = (
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && "
    ".venv/bin/streamlit run streamlit_app.py",
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt -r requirements-dev.txt && "
    ".venv/bin/python -m pytest -q",
)
PYTHONS = ("python", "python3", ".venv/bin/python")
SHIPPED = ROOT / "checkpoints"
RUNS = SHIPPED / "runs"
# Run every script's --help in one child process, so torch is imported once, not once a script.
HELP_CHILD = """
import contextlib, io, json, runpy, sys, traceback
out = {}
for script in sys.argv[1:]:
    buf, sys.argv = io.StringIO(), [script, "--help"]
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code or 0
    except BaseException:
        code = 1
        buf.write(traceback.format_exc())
    out[script] = [code, buf.getvalue()]
print(json.dumps(out))
"""


def command_lines(text: str, inline: bool) -> list[str]:
    """Every command of the ```bash blocks (split at &&), plus inline `.venv/bin/...` code."""
    blocks = re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    if inline:
        prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
        lines += re.findall(r"`(\.venv/bin/[^`]+)`", prose)
    return [cmd.strip() for line in lines if line and not line.startswith("#")
            for cmd in line.split("&&")]


def all_commands() -> list[tuple[str, str]]:
    return [(doc.name, cmd) for doc in DOCS
            for cmd in command_lines(doc.read_text(encoding="utf-8"), inline=doc == README)]


def written_by_docs() -> set[Path]:
    """Files that some documented command writes (--out), so that a later one may read them."""
    text = "\n".join(cmd for _, cmd in all_commands())
    return {(ROOT / p).resolve() for p in re.findall(r"--out\s+(\S+)", text)}


def runs_a_benchmark(cmd: str) -> bool:
    """Whether a documented line runs a benchmark (checked against its --help, got from a child process)."""
    return re.match(r"(\S*python3?) benchmarks/\S+\.py", cmd) is not None


@lru_cache(maxsize=1)
def script_help() -> dict:
    """benchmarks/X.py -> (exit code, --help text) for every script the docs run."""
    scripts = sorted({shlex.split(cmd)[1] for _, cmd in all_commands()
                      if runs_a_benchmark(cmd)})
    scripts = [s for s in scripts if (ROOT / s).is_file()]
    done = subprocess.run([sys.executable, "-c", HELP_CHILD, *scripts], cwd=ROOT, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_cli(cmd: str, argv: list[str]) -> None:
    """The real parser accepts the line, no shipped checkpoint is written, inputs exist."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"the CLI refuses this documented command: {cmd}")
    written = [args.out] if getattr(args, "out", None) else []
    if getattr(args, "save_metrics", False):
        written.append(args.checkpoint)  # --save-metrics rewrites the checkpoint
    for path in written:
        p = (ROOT / path).resolve()
        assert not (p.is_relative_to(SHIPPED) and not p.is_relative_to(RUNS)), (
            f"writes {path} among the shipped checkpoints: {cmd}")
    for name in ("checkpoint", "resume", "image", "score_with"):
        path = getattr(args, name, None)
        if path:
            p = (ROOT / path).resolve()
            assert p.exists() or p in written_by_docs(), f"{path} does not exist: {cmd}"


def check_script(cmd: str, script: str, argv: list[str]) -> None:
    """The benchmark exists, its --help works, and it lists every flag the line uses."""
    assert (ROOT / script).is_file(), f"no such script {script}: {cmd}"
    code, text = script_help()[script]
    assert code == 0, f"{script} --help failed:\n{text[-2000:]}"
    for flag in (a.split("=")[0] for a in argv if a.startswith("--")):
        assert re.search(rf"{re.escape(flag)}\b", text), f"{script} has no {flag}: {cmd}"


def check(cmd: str) -> None:
    argv = shlex.split(cmd)
    prog, rest = argv[0], argv[1:]
    if prog in PYTHONS and rest[:2] == ["-m", "dae_core"]:
        return check_cli(cmd, rest[2:])
    if prog == ".venv/bin/dae":  # the installed command: the same parser
        return check_cli(cmd, rest)
    if prog in PYTHONS and rest[:2] in (["-m", "pytest"], ["-m", "venv"]):
        return None
    if prog in PYTHONS and rest and rest[0].startswith("benchmarks/"):
        return check_script(cmd, rest[0], rest[1:])
    if prog == ".venv/bin/pip" and rest[:1] == ["install"]:
        files = [rest[i + 1] for i, a in enumerate(rest) if a == "-r"]
        assert files and all((ROOT / f).is_file() for f in files), f"missing requirements: {cmd}"
        return None
    if prog == ".venv/bin/streamlit" and rest[:1] == ["run"]:
        assert (ROOT / rest[1]).is_file(), f"no such app file: {cmd}"
        return None
    pytest.fail(f"a documented command this test does not know how to check: {cmd}")


@pytest.mark.parametrize("doc, cmd", [
    pytest.param(doc, cmd, marks=pytest.mark.slow if runs_a_benchmark(cmd) else ()) for doc, cmd in all_commands()
], ids=lambda v: v[:70] if "/" in v else v)
def test_documented_command_is_real(doc, cmd):
    check(cmd)


def test_check_catches_a_wrong_command():
    """The checks can fail: an unknown flag, a missing script, a shipped checkpoint overwritten."""
    bad = [".venv/bin/python -m dae_core train --no-such-flag 1",
           ".venv/bin/python -m dae_core train --epochs 1 --out checkpoints/reference-d4.pt",
           ".venv/bin/python -m dae_core evaluate --checkpoint checkpoints/reference-d4.pt --save-metrics",
           ".venv/bin/python benchmarks/no_such_bench.py --epochs 1",
           ".venv/bin/streamlit run no_such_app.py"]
    for cmd in bad:
        with pytest.raises((AssertionError, pytest.fail.Exception)):
            check(cmd)


def test_readme_starts_with_the_two_setup_commands():
    blocks = command_lines(README.read_text(encoding="utf-8"), inline=False)
    assert " && ".join(blocks[:3]) == SETUP[0]
    assert " && ".join(blocks[3:6]) == SETUP[1]


def test_readme_is_short_and_about_the_product():
    text = README.read_text(encoding="utf-8")
    assert len(text) <= MAX_CHARS, f"README has {len(text)} characters; at most {MAX_CHARS}"
    found = [w for w in PROCESS_WORDS if w in text.lower()]
    assert not found, f"the README speaks of how it was made: {found}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_point_to_files(doc):
    links = re.findall(r"\]\(([^)#\s]+)", doc.read_text(encoding="utf-8"))
    missing = [l for l in links if "://" not in l and not (doc.parent / l).exists()]
    assert not missing, f"{doc.name} links to missing files: {missing}"


def test_package_map_lists_the_modules_that_exist():
    text = README.read_text(encoding="utf-8")
    section = text.split("## What is inside", 1)[1]
    listed = set(re.findall(r"^  \S.*", section.split("```")[1], re.M))
    named = {m for line in listed for m in re.findall(r"\b(\w+)\.py\b", line.split("  ")[1])}
    modules = {p.stem for p in (ROOT / "dae_core").glob("*.py")} - {"__init__", "__main__"}
    assert named == modules, (f"listed but missing: {sorted(named - modules)}; "
                              f"not listed: {sorted(modules - named)}")
