"""The Train page's view of a run: a folder on disk (dae_core.serve), trained by a Ray job.

The page holds a RunView, which holds only the run's folder: everything it shows is read from
there at each refresh, so a reload, a second tab or a restarted server finds the run as it is.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from dae_core.config import TrainConfig
from dae_core.errors import DaeError
from dae_core.serve import training
from dae_core.serve.runs import Run, RunError

log = logging.getLogger(__name__)
_warming: threading.Thread | None = None
_lock = threading.Lock()


class RunView:
    """A run as the page shows it; refresh() reads its folder (and its job, while it says nothing final)."""

    def __init__(self, run: Run):
        """RunError (one line) when the folder's run.json is not a run this app can show (damaged,
        or written by a version with other settings)."""
        self.run = run
        self.run_id = run.id
        try:
            self.config = TrainConfig.from_dict(run.config)
            if run.epochs_planned < 1:
                raise RunError("it plans no epochs")
        except (DaeError, TypeError, ValueError) as e:
            raise RunError(f"run {run.id} cannot be opened: {e}") from None
        self.first_epoch = run.first_epoch
        self.epochs_planned = run.epochs_planned
        self.refresh()

    def refresh(self) -> None:
        s = training.state(self.run)
        self.status, self.message, self.position = s.status, s.message, s.place
        self.history = s.history
        self.batches = [(b.x, b.loss) for b in s.batches]
        self.last_batch = s.last_batch
        self.started = float(self.run.status().get("started") or 0.0)

    @property
    def active(self) -> bool:
        return self.status not in training.runs.ENDED

    @property
    def model_epoch(self) -> int:
        return len(self.history)

    @property
    def has_checkpoint(self) -> bool:
        return self.run.has_checkpoint()

    @property
    def checkpoint_path(self) -> Path:
        return self.run.checkpoint_path

    @property
    def saved_name(self) -> str | None:
        return self.run.saved_as()

    def stop(self) -> None:
        training.stop(self.run)

    def save(self, name: str) -> str:
        return str(training.save(self.run, name))

    def discard(self) -> None:
        training.discard(self.run)


def start(config: TrainConfig, previous: RunView | None = None, epochs: int | None = None) -> RunView:
    """Submit a fresh run of `config`, or `epochs` more of `previous` (its curve carried over)."""
    if previous is None:
        return RunView(training.start(config.to_dict(), config.epochs))
    return RunView(training.start(config.to_dict(), epochs, previous.run))


def find(run_id: str) -> RunView | None:
    """The run with this id on this server's disk, or None (a run folder it cannot open is logged)."""
    run = training.find(run_id)
    if run is None:
        return None
    try:
        return RunView(run)
    except RunError as e:
        log.warning("%s", e)
        return None


def recent(limit: int = 20) -> list[Run]:
    """The newest runs in the runs folder."""
    return training.runs.all_runs(training.runs_dir())[:limit]


def warm_up() -> threading.Thread:
    """Start a local Ray in the background (once per process), so that the first Start does not
    wait for it; a failure is logged, and the Start that needs Ray says why."""
    global _warming
    with _lock:
        if _warming is None:
            _warming = threading.Thread(target=_quietly, name="dae-ray-warm-up", daemon=True)
            _warming.start()
        return _warming


def _quietly() -> None:
    t = time.monotonic()
    try:
        training.ensure_ray(wait_s=60)
    except Exception as e:  # noqa: BLE001  the first Start tries again and shows why it failed
        log.warning("no Ray for runs yet: %s", e)
    else:
        log.info("Ray's job server answers (%.1f s)", time.monotonic() - t)
