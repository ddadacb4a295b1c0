"""A training run as a folder on disk: what the web server shows and what survives it.

    <runs dir>/<run id>/run.json      what to train: config, epochs, the checkpoint it goes on from
                        status.json   queued | running | finished | stopped | diverged | failed,
                                      a one-line message, the trainer's heartbeat
                        batches.jsonl one line per progress report (appended as it trains)
                        latest.pt     the checkpoint after the latest finished epoch (atomic)
                        stop          present once somebody asked the run to stop

The training process writes (RunWriter); the web server and the command line read (Run). Nothing
here imports Ray or PyTorch, so reading a run is cheap. Saved runs are `<runs dir>/<name>.pt`, a
hard link to the run's checkpoint where the file system allows, so saving costs no disk.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dae_core.errors import DaeError
from dae_core.files import write_atomic

ENDED = ("finished", "stopped", "diverged", "failed", "interrupted")
HEARTBEAT_S = 2.0  # a training process rewrites status.json at least this often
ASK_AFTER_S = 6.0  # a run whose trainer has been quiet this long: ask Ray whether its job still runs
STALE_S = 30.0  # quiet this long, and Ray cannot be asked: the page says so
_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
log = logging.getLogger(__name__)


class RunError(DaeError):
    """A run that does not exist, or cannot be saved, continued or deleted; one line."""


def new_id() -> str:
    """'20261207-061502-3fa2c1': sortable by start time, to the microsecond (the first five hex
    digits count them within the second: runs started in one second keep their order when the
    oldest is pruned first), and unique (the sixth digit is random)."""
    now = time.time_ns()
    seconds, micro = divmod(now // 1000, 1_000_000)
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(seconds)) + f"-{micro:05x}{secrets.randbelow(16):x}"


def is_run_id(text: object) -> bool:
    return isinstance(text, str) and bool(_ID.match(text))


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, lambda f: f.write(json.dumps(data).encode()))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_lines(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """The JSON lines of `path` from byte `offset` on -> (records, the offset after the last whole line)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
    out = []
    for line in chunk[:end].splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            log.warning("skipped a broken progress line in %s", path)
    return out, offset + end


@dataclass(frozen=True)
class Batch:
    """One progress report: `x` is the fractional epoch (epoch - 1 + batch / n_batches)."""

    x: float
    loss: float
    epoch: int
    batch: int
    n_batches: int
    seconds: float
    images_per_s: float


class Run:
    """A run folder, read: its request, status, history and checkpoint, as they are on disk now."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.id = self.folder.name
        self.request = _read_json(self.folder / "run.json")

    # --- what to train
    @property
    def config(self) -> dict:
        return self.request.get("config", {})

    @property
    def epochs_planned(self) -> int:
        return int(self.request.get("epochs", 0))

    @property
    def first_epoch(self) -> int:
        """The first epoch this run trains (a continued run goes on from its checkpoint's)."""
        return int(self.request.get("first_epoch", 1))

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / "latest.pt"

    @property
    def start_path(self) -> Path:
        """The checkpoint a continued run starts from (a copy, so the original may go)."""
        return self.folder / "start.pt"

    # --- what it is doing
    def status(self) -> dict:
        """status.json: {'status', 'message', 'updated', 'started', ...}; 'queued' before the trainer writes."""
        return _read_json(self.folder / "status.json") or {"status": "queued", "message": "", "updated": 0}

    def history(self) -> list[dict]:
        """Every finished epoch's stats, the ones it went on from included."""
        records, _ = _read_lines(self.folder / "epochs.jsonl")
        return list(self.request.get("history", [])) + records

    def batches(self, offset: int = 0) -> tuple[list[Batch], int]:
        """Progress reports after byte `offset` of batches.jsonl -> (reports, new offset)."""
        records, offset = _read_lines(self.folder / "batches.jsonl", offset)
        out = []
        for r in records:
            try:
                out.append(Batch(**r))
            except TypeError:
                log.warning("skipped a malformed progress line in run %s", self.id)
        return out, offset

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.exists()

    def stop_asked(self) -> bool:
        return (self.folder / "stop").exists()

    def ask_stop(self) -> None:
        """Ask the trainer to stop within one batch (it keeps its finished epochs)."""
        (self.folder / "stop").touch()

    def saved_as(self) -> str | None:
        return _read_json(self.folder / "saved.json").get("name")

    def mark_saved(self, name: str) -> None:
        _write_json(self.folder / "saved.json", {"name": name})

    def size_bytes(self) -> int:
        return sum(_size(p) for p in self.folder.iterdir()) if self.folder.exists() else 0

    def created(self) -> float:
        return float(self.request.get("created", 0.0))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class RunWriter:
    """The training process's side of a run folder: status, progress lines, checkpoints."""

    def __init__(self, run: Run):
        self.run = run
        self._beat = 0.0
        self._status: dict = {}

    def set_status(self, status: str, message: str = "", **extra) -> None:
        self._status = {**self._status, "status": status, "message": message, "pid": os.getpid(),
                        **extra, "updated": time.time()}
        _write_json(self.run.folder / "status.json", self._status)
        self._beat = time.monotonic()

    def heartbeat(self) -> None:
        """Rewrite status.json's time stamp, at most every HEARTBEAT_S."""
        if self._status and time.monotonic() - self._beat >= HEARTBEAT_S:
            self.set_status(self._status["status"], self._status.get("message", ""))

    def batch(self, b: Batch) -> None:
        with open(self.run.folder / "batches.jsonl", "a") as f:
            f.write(json.dumps(b.__dict__) + "\n")
        self.heartbeat()

    def epoch(self, stats: dict, save_checkpoint) -> None:
        """The epoch's checkpoint first (atomic), then its line: a line always has its weights."""
        save_checkpoint(self.run.checkpoint_path)
        with open(self.run.folder / "epochs.jsonl", "a") as f:
            f.write(json.dumps(stats) + "\n")
        self.heartbeat()


class StopFlag:
    """threading.Event's is_set() over a run's stop file: the engine checks it between batches."""

    def __init__(self, run: Run):
        self.run = run

    def is_set(self) -> bool:
        return self.run.stop_asked()


# --- the runs folder


def create(runs_dir: Path, config: dict, epochs: int, history: list | None = None,
           start_from: Path | None = None, batches_from: Run | None = None) -> Run:
    """A new run folder: a fresh `config`, or `epochs` more of the checkpoint `start_from`
    (its history, and the batch curve of `batches_from`, carried over)."""
    run_id = new_id()
    folder = Path(runs_dir) / run_id
    folder.mkdir(parents=True)
    if start_from is not None:
        shutil.copyfile(start_from, folder / "start.pt")
    if batches_from is not None and (batches_from.folder / "batches.jsonl").exists():
        shutil.copyfile(batches_from.folder / "batches.jsonl", folder / "batches.jsonl")
    history = list(history or [])
    _write_json(folder / "run.json", {"id": run_id, "config": config, "epochs": int(epochs),
                                       "history": history, "first_epoch": len(history) + 1,
                                       "created": time.time()})
    return Run(folder)


def find(runs_dir: Path, run_id: object) -> Run | None:
    """The run with this id, or None (a malformed id is never a path)."""
    if not is_run_id(run_id):
        return None
    folder = Path(runs_dir) / run_id
    return Run(folder) if (folder / "run.json").exists() else None


def all_runs(runs_dir: Path) -> list[Run]:
    """Every run folder, newest first."""
    try:
        folders = [p for p in Path(runs_dir).iterdir() if is_run_id(p.name) and (p / "run.json").exists()]
    except OSError:
        return []
    return [Run(p) for p in sorted(folders, key=lambda p: p.name, reverse=True)]


def saved_checkpoints(runs_dir: Path) -> list[Path]:
    return sorted(Path(runs_dir).glob("*.pt"))


def disk_bytes(runs_dir: Path) -> int:
    """Bytes the runs folder holds, each file once however many names it has (hard links)."""
    seen, total = set(), 0
    for root, _, files in os.walk(runs_dir):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def remove(run: Run) -> None:
    shutil.rmtree(run.folder, ignore_errors=True)


def remove_leftovers(runs_dir: Path) -> list[str]:
    """Delete the temporary files of saves cut short by a crash -> their names."""
    gone = []
    for path in list(Path(runs_dir).glob(".*.tmp")) + list(Path(runs_dir).glob("*/.*.tmp")):
        try:
            path.unlink()
            gone.append(str(path))
        except OSError:
            log.warning("could not remove %s", path, exc_info=True)
    return gone
