"""A per-session background training run: a thread over dae_core.train.fit, never calling st.*.

The page keeps one TrainingWorker in st.session_state, starts it, and a fragment polls
snapshot() to redraw; stop() sets an event the engine checks between batches.
"""
from __future__ import annotations

import copy
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from dae_core import checkpoint as ckpt_io
from dae_core.errors import DaeError
from dae_core.train import (BatchStats, EpochStats, Stopped, TrainState, fit, new_state,
                            prepare_data)


@dataclass
class Snapshot:
    """What the page draws, copied under the lock: never shared mutable state."""

    status: str  # idle | running | finished | stopped | diverged | failed
    message: str
    history: list
    batches: list  # (fractional epoch, loss) points
    last_batch: BatchStats | None
    epochs_planned: int
    first_epoch: int
    started: float
    saved_path: str | None
    model: object = None  # frozen eval-mode copy after the last finished epoch (None before one)
    model_epoch: int = 0  # the epoch that copy was taken after


@dataclass
class TrainingWorker:
    """One run. Create it with a fresh config or a state to continue, then start()."""

    state: TrainState
    epochs: int
    status: str = "idle"
    message: str = ""
    batches: list = field(default_factory=list)
    last_batch: BatchStats | None = None
    saved_path: str | None = None
    started: float = 0.0
    alive: Callable[[], bool] | None = None  # is the browser session that owns the run still open?
    # A closed session's run stops this long after it was noticed ($DAE_ORPHAN_GRACE_S, default 60 s).
    orphan_grace_s: float = field(default_factory=lambda: float(os.environ.get("DAE_ORPHAN_GRACE_S", 60)))

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.first_epoch = self.state.epochs_done + 1
        self.epoch_done = threading.Event()  # set after each finished epoch (tests wait on it)
        # The page previews this copy, never the live model: calling eval() on the model being
        # trained would switch its BatchNorm layers to running statistics mid-epoch.
        self._epoch_model = _frozen_copy(self.state.model) if self.state.history else None
        self._model_epoch = self.state.epochs_done

    @classmethod
    def fresh(cls, config) -> "TrainingWorker":
        return cls(new_state(config), config.epochs)

    def start(self) -> None:
        self.status, self.started = "running", time.time()
        self._thread = threading.Thread(target=self._run, name="dae-train", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            data = prepare_data(self.state.config, self.state.device)
            for event in fit(self.state, data, self.epochs, stop=self._stop):
                with self._lock:
                    self._record(event)
                if self._orphaned():
                    self._stop.set()  # fit() yields Stopped at the next batch
        except DaeError as e:
            self._finish("failed", str(e))
        except Exception as e:  # a worker thread must not die silently: the page shows this
            self._finish("failed", f"{type(e).__name__}: {e}")
        else:
            if self.status == "running":
                self._finish("finished", f"finished {self.epochs} epochs")

    def _orphaned(self) -> bool:
        """True once the owning session has been gone for orphan_grace_s (closed tab)."""
        if self.alive is None or self.alive():
            self._gone_since = None
            return False
        self._gone_since = getattr(self, "_gone_since", None) or time.time()
        return time.time() - self._gone_since > self.orphan_grace_s

    def _record(self, event) -> None:
        if isinstance(event, BatchStats):
            self.last_batch = event
            self.batches.append((event.epoch - 1 + event.batch / event.n_batches, event.loss))
        elif isinstance(event, EpochStats):
            self._epoch_model, self._model_epoch = _frozen_copy(self.state.model), event.epoch
            self.epoch_done.set()
        elif isinstance(event, Stopped):
            self.status = "diverged" if event.reason == "diverged" else "stopped"
            self.message = event.message

    def _finish(self, status: str, message: str) -> None:
        with self._lock:
            self.status, self.message = status, message

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self.status, self.message, [dict(h) for h in self.state.history],
                            list(self.batches), self.last_batch, self.epochs, self.first_epoch,
                            self.started, self.saved_path, self._epoch_model, self._model_epoch)

    def save(self, name: str, directory) -> str:
        """Save the run under checkpoints/<dir>/<name>.pt; refuses unsafe or existing names."""
        if self.running:
            raise DaeError("stop the run before saving it")
        path = ckpt_io.safe_path(name, directory)
        last = self.state.history[-1] if self.state.history else {}
        metrics = {"val_mse": last["val_loss"]} if last else {}
        ckpt_io.save_state(self.state, path, metrics)
        self.saved_path = str(path)
        return self.saved_path


def _frozen_copy(model):
    """A detached eval-mode copy of `model` that training never touches."""
    return copy.deepcopy(model).eval().requires_grad_(False)
