"""Benchmarks write their own tables into docs/speed.md, between a section's two markers:

    <!-- bench_load: begin -->
    (the table, with the date, machine and command that made it)
    <!-- bench_load: end -->

so the page holds today's results as the benchmark printed them, and the history stays in git.
Text outside the markers (what a table means, what changed) is written by hand.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "speed.md"


def markers(section: str) -> tuple[str, str]:
    return f"<!-- {section}: begin -->", f"<!-- {section}: end -->"


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; None shows as an empty cell's dash."""
    cell = lambda v: "–" if v is None else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def machine() -> str:
    """The machine in a few words: CPU cores and model, and the GPU where PyTorch sees one."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = "no GPU"
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    return f"{os.cpu_count()} CPU cores ({model}), {gpu}"


def stamp(argv: list[str] | None = None) -> str:
    """The line under a written table: when, where and with what command it was made."""
    argv = sys.argv if argv is None else argv
    command = "python " + shlex.join([str(Path(argv[0]).relative_to(DOC.parents[1]))
                                      if Path(argv[0]).is_absolute() else argv[0], *argv[1:]])
    return f"Written by `{command}` on {datetime.date.today().isoformat()}, {machine()}."


def write(section: str, text: str, doc: Path = DOC) -> None:
    """Put `text` between the section's markers in `doc`, in place of what was there; raises
    SystemExit naming the markers when the document lacks them."""
    begin, end = markers(section)
    old = doc.read_text()
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if len(pattern.findall(old)) != 1:
        raise SystemExit(f"{doc} needs one pair of markers {begin} ... {end}")
    doc.write_text(pattern.sub(lambda _: f"{begin}\n{text.strip()}\n{end}", old))
    print(f"wrote the {section} table into {doc}", flush=True)
