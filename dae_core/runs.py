"""One training run in the process that trains it: the engine's events kept for polling.

A TrainingRun is what a Ray actor holds (dae_core.jobs), and it runs just as well in a plain
thread: train() blocks until the run ends, while stop() and poll() are called from other
threads. Everything poll() returns is plain data (lists, dicts, frozen stats, a checkpoint
payload), so it crosses process and machine boundaries unchanged.

PyTorch and the engine are imported only when a run is built: the Scheduler actor imports this
module to name the actor class, and a queue has no use for 500 MB of PyTorch.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import TrainConfig
from .errors import DaeError

if TYPE_CHECKING:
    from .train import BatchStats, TrainState

ENDED = ("finished", "stopped", "diverged", "failed")  # statuses after which nothing changes


@dataclass(frozen=True)
class RunRequest:
    """What to train: a fresh config, or `resume` (a checkpoint payload) for `epochs` more epochs."""

    config: dict  # TrainConfig.to_dict(); with resume, the payload's config is used
    epochs: int  # epochs this run trains
    resume: dict | None = None  # to_payload() of the state to go on from


@dataclass(frozen=True)
class Progress:
    """What changed since the caller's last poll (see TrainingRun.poll)."""

    status: str  # starting | running | finished | stopped | diverged | failed
    message: str
    history: list  # every finished epoch's stats dict, the resumed ones included
    batches: list  # new (fractional epoch, loss) points since the caller's count
    last_batch: BatchStats | None
    started: float  # time.time() when training began (0 before)
    payload: dict | None = None  # the latest finished epoch's checkpoint, when newer than the caller's


class TrainingRun:
    """Build the state from a RunRequest, then train() in one thread and poll() from others."""

    def __init__(self, request: RunRequest):
        from . import checkpoint as ckpt_io
        from .train import new_state

        self.request = request
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.status, self.message, self.started = "starting", "", 0.0
        self.batches: list = []
        self.last_batch: BatchStats | None = None
        self._payload, self.history, self.state = None, [], None
        try:  # a request this process cannot build (another version of DAE Lab, say) fails the run
            # with its reason, rather than the actor's creation with "exited unexpectedly"
            if request.resume is not None:
                self.state = ckpt_io.to_state(ckpt_io.from_payload(request.resume))
            else:
                self.state = new_state(TrainConfig.from_dict(request.config))
        except DaeError as e:
            self.status, self.message = "failed", f"the run could not start: {e}"
            return
        # What poll() hands out: the epochs recorded with their checkpoint, never the engine's live
        # history, which gains an epoch before that epoch's checkpoint is copied.
        self._payload = _copy_payload(self.state) if self.state.history else None
        self.history = list(self._payload["history"]) if self._payload else []

    def train(self) -> str:
        """Run to the end (or to a stop) -> the final status; never raises."""
        from .train import fastest_compile_mode, fit, prepare_data

        if self.state is None:
            return self.status
        try:
            data = prepare_data(self.state.config, self.state.device)
            with self._lock:
                self.status, self.started = "running", time.time()
            # On a CUDA GPU a whole step replays as one CUDA graph where the schedule allows.
            mode = fastest_compile_mode(self.state)
            for event in fit(self.state, data, self.request.epochs, stop=self._stop,
                             compile_mode=mode):
                self._record(event)
        except DaeError as e:
            self._end("failed", str(e))
        except Exception as e:  # the page shows this line; the process that trains lives on
            self._end("failed", f"{type(e).__name__}: {e}")
        else:
            if self.status == "running":
                self._end("finished", f"finished {self.request.epochs} epochs")
        return self.status

    def stop(self) -> None:
        """Ask the run to end; the engine checks between batches, so it ends within one."""
        self._stop.set()

    def poll(self, batches_seen: int = 0, epoch_seen: int = 0) -> Progress:
        """Progress after the caller's `batches_seen` batch points; the checkpoint payload only
        when an epoch later than `epoch_seen` has finished."""
        with self._lock:
            payload = self._payload if len(self.history) > epoch_seen else None
            return Progress(self.status, self.message, [dict(h) for h in self.history],
                            self.batches[batches_seen:], self.last_batch, self.started, payload)

    def _record(self, event) -> None:
        from .train import BatchStats, EpochStats, Stopped  # loaded by train() already

        with self._lock:
            if isinstance(event, BatchStats):
                self.last_batch = event
                self.batches.append((event.epoch - 1 + event.batch / event.n_batches, event.loss))
            elif isinstance(event, EpochStats):  # the epoch and its weights, recorded together
                self._payload = _copy_payload(self.state, {"val_mse": event.val_loss})
                self.history = list(self._payload["history"])
            elif isinstance(event, Stopped):
                self.status = "diverged" if event.reason == "diverged" else "stopped"
                self.message = event.message

    def _end(self, status: str, message: str) -> None:
        with self._lock:
            self.status, self.message = status, message


def _copy_payload(state: TrainState, metrics: dict | None = None) -> dict:
    """The state's checkpoint payload, copied: on the CPU its tensors would share the live weights."""
    from . import checkpoint as ckpt_io

    return copy.deepcopy(ckpt_io.to_payload(state, metrics))
