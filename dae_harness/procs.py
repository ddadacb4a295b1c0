"""The processes behind a test or benchmark, read from /proc: CPU seconds, niceness, memory, a
process's descendants, and the training processes of Ray jobs (Linux only)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _stat(pid: int) -> list[str]:
    """A process's /proc/PID/stat fields from the third on (state, ppid, ...), Linux."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far, from /proc (Linux)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def niceness(pid: int) -> int:
    """A process's CPU niceness, from /proc (Linux)."""
    return int(_stat(pid)[16])


def total_cpu_seconds(pids) -> float:
    """cpu_seconds summed over pids, skipping any process that ended since it was listed."""
    total = 0.0
    for p in pids:
        try:
            total += cpu_seconds(p)
        except OSError:
            continue
    return total


def descendants(pid: int) -> list[int]:
    """The process and everything it started, children of children included, from /proc (Linux)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in found:
            continue
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


def run_workers(runs_dir: str | Path | None = None) -> list[int]:
    """The processes training a run (`dae_core train --run-dir`) of the runs folder `runs_dir`, or
    of any: the app's runs are Ray jobs, not its children, so they are found by their command lines."""
    where = "" if runs_dir is None else f" {Path(runs_dir).resolve()}"
    return [p for p in pids_of(f"dae_core train --run-dir{where}") if not _is_shell(p)]


def _is_shell(pid: int) -> bool:
    """Whether the process is a shell (Ray runs a job's command through `sh -c`, whose command line
    names the command too)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            first = f.read().split(b"\0", 1)[0]
    except OSError:
        return False
    return Path(first.decode(errors="replace")).name in ("sh", "bash", "dash")


def pids_of(pattern: str) -> list[int]:
    """The processes whose command line matches `pattern` (pgrep -f), this one left out."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]
