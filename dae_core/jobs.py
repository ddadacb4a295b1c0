"""Training runs as Ray jobs: a local Ray by default, the cluster at $RAY_ADDRESS when given.

Each run is a Ray actor holding a TrainingRun (dae_core.runs) in its own worker process, so a
crash or a `kill -9` there ends that run only. A named Scheduler actor keeps the queue: at most
$DAE_MAX_RUNS runs train at once, the rest wait in order (dae_core.scheduler). The app and the
command line talk to a run through a RunHandle, which polls without ever blocking on a busy worker.
Every wait on Ray has a time limit, and a failure to start or reach it is one JobError line.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from . import scheduler
from .checkpoint import from_payload, safe_path, save
from .config import TrainConfig
from .errors import DaeError
from .ray_start import JobError, connect, disconnect, where
from .runs import ENDED, RunRequest
from .scheduler import ASK_TIMEOUT_S, describe_failure, run_options

log = logging.getLogger(__name__)


class RunHandle:
    """The app's (or the command line's) view of one run: refresh() never blocks on the worker.

    Two tabs on one run's URL share its handle: one lock keeps their polls apart, so neither sees
    a point twice or misses one, and each list is replaced, never changed, for readers.
    """

    def __init__(self, run_id: str, request: RunRequest, batches: list | None = None):
        self.run_id, self.request = run_id, request
        self.config = TrainConfig.from_dict((request.resume or {}).get("config") or request.config)
        self.status, self.message, self.position = "queued", "", 0
        self.history: list = list((request.resume or {}).get("history", []))
        self.first_epoch = len(self.history) + 1
        self.batches: list = list(batches or [])
        self.last_batch, self.started = None, 0.0
        self.payload = request.resume  # the latest finished epoch's checkpoint payload
        self.saved_path: str | None = None
        self._actor = self._pending = None
        self._seen = len(self.batches)  # batch points of this run already merged
        self._model = None
        self._lock = threading.RLock()

    @property
    def active(self) -> bool:
        return self.status not in ENDED

    @property
    def epochs_planned(self) -> int:
        return self.request.epochs

    @property
    def model_epoch(self) -> int:
        return len(self.payload["history"]) if self.payload else 0

    def refresh(self) -> None:
        """Take in whatever the scheduler or the worker has said since the last call; never raises."""
        with self._lock:
            if not self.active:
                return
            try:
                self._poll()
            except RayError as e:
                self.status, self.message = "failed", describe_failure(e)
            except Exception as e:  # noqa: BLE001  Ray itself went away (its raylet killed, say)
                log.error("lost contact with run %s", self.run_id, exc_info=True)
                self.status, self.message = "failed", f"lost contact with the run ({describe_failure(e)})"
            if not self.active:
                if self.status == "failed":  # the page shows this line; the server's log keeps it
                    log.warning("run %s failed: %s", self.run_id, self.message)
                self._forget()

    def _poll(self) -> None:
        if self._actor is None and not self._find_actor():
            return
        if self._pending is None:
            self._pending = self._actor.poll.remote(self._seen, self.model_epoch)
        ready, _ = ray.wait([self._pending], timeout=0)
        if ready:
            try:
                progress, self._pending = ray.get(ready[0], timeout=ASK_TIMEOUT_S), None
            except RayActorError:  # its worker is gone: ended (the Scheduler holds the result) or died
                self._actor = self._pending = None
                self._find_actor()  # 'done' or 'ended'; or not yet noticed there: asked again next time
                return
            self.apply(progress)
            if self.active:  # ask again at once, so the next refresh finds this interval's
                # progress ready (asked only then, the counter would move every other refresh)
                self._pending = self._actor.poll.remote(self._seen, self.model_epoch)

    def _find_actor(self) -> bool:
        place = scheduler.ask("place", self.run_id, self._seen, self.model_epoch)
        if place[0] == "queued":
            self.status, self.position = "queued", place[1]
        elif place[0] == "done":  # it ended in its worker; the Scheduler kept the rest of its progress
            self.apply(place[1])
        elif place[0] == "ended":
            self.status, self.message = place[1], place[2]
        elif place[0] == "unknown":
            self.status, self.message = "failed", "the cluster no longer knows this run"
        else:
            self._actor = place[1]
            self.status = "starting" if self.status == "queued" else self.status
        return self._actor is not None

    def apply(self, progress) -> None:
        """Take in a dae_core.runs.Progress (what the worker's poll returned)."""
        with self._lock:
            self.history = progress.history
            self.batches = self.batches + progress.batches
            self._seen += len(progress.batches)
            self.last_batch = progress.last_batch or self.last_batch
            self.started = progress.started
            if progress.payload is not None:
                self.payload, self._model = progress.payload, None
            self.status, self.message = progress.status, progress.message

    def _forget(self) -> None:
        try:
            scheduler.scheduler().release.remote(self.run_id)
        except Exception:  # noqa: BLE001  the cluster itself is gone; nothing is left to free
            log.debug("could not release run %s", self.run_id, exc_info=True)

    def stop(self) -> None:
        """Leave the queue, or stop training within one batch (finished epochs are kept)."""
        if self.active:
            try:
                scheduler.scheduler().cancel.remote(self.run_id)
            except Exception:  # noqa: BLE001  the next refresh reports a cluster that went away
                log.warning("could not stop run %s", self.run_id, exc_info=True)

    def wait(self, timeout: float | None = None, poll_s: float = 0.2) -> None:
        """Block until the run ends (tests and the command line)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.active and (deadline is None or time.monotonic() < deadline):
            self.refresh()
            time.sleep(poll_s)

    def model(self):
        """The model after the latest finished epoch (eval mode), or None before one."""
        with self._lock:
            if self._model is None and self.payload is not None:
                self._model = from_payload(self.payload).model
            return self._model

    def save(self, name: str, directory) -> str:
        """Save the latest finished epoch under <directory>/<name>.pt; refuses unsafe or taken names."""
        with self._lock:
            if self.active:
                raise DaeError("stop the run before saving it")
            if self.payload is None:
                raise DaeError("no epoch finished, so there is nothing to save")
            payload = self.payload
        # Exclusive: of two saves under one new name, one wins and the other is told it is taken.
        self.saved_path = str(save(payload, safe_path(name, directory), overwrite=False))
        return self.saved_path


def submit(request: RunRequest, batches: list | None = None) -> RunHandle:
    """Queue a run on the cluster (starting Ray first if needed) -> its handle."""
    connect()
    run_id = uuid.uuid4().hex[:12]
    try:
        scheduler.ask("submit", run_id, request, run_options(request.config))
    except DaeError:
        raise
    except GetTimeoutError:
        log.error("the run queue did not answer", exc_info=True)
        raise JobError(f"the run queue did not answer within {ASK_TIMEOUT_S:g} s; "
                       "try again in a moment") from None
    except Exception as e:  # noqa: BLE001  Ray is broken: the next start begins from scratch
        log.error("cannot queue a run; Ray is started again at the next start", exc_info=True)
        disconnect()
        raise JobError(f"cannot queue the run ({describe_failure(e)}); try again") from None
    return RunHandle(run_id, request, batches)


def describe_cluster() -> str:
    """'a local Ray (2 CPUs)' or 'the Ray cluster at ADDRESS (8 CPUs, 1 GPU)'."""
    res = ray.cluster_resources()
    size = f"{res.get('CPU', 0):g} CPUs" + (f", {res['GPU']:g} GPUs" if res.get("GPU") else "")
    return f"{where()} ({size})"
