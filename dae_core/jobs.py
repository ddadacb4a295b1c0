"""Training runs as Ray jobs: a local Ray by default, the cluster at $RAY_ADDRESS when given.

Each run is a Ray actor holding a TrainingRun (dae_core.runs) in its own worker process, so a
crash or a `kill -9` there ends that run only. A named Scheduler actor keeps the queue: at most
$DAE_MAX_RUNS runs train at once, the rest wait in order (dae_core.scheduler). The app and the
command line talk to a run through a RunHandle, which polls without ever blocking on a busy worker.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import ray
from ray.exceptions import GetTimeoutError, RayError

from .checkpoint import from_payload, safe_path, save
from .config import TrainConfig
from .data import DATA_DIR
from .errors import DaeError
from .runs import ENDED, RunRequest
from .scheduler import Scheduler, describe_failure

NAMESPACE = "dae-lab"
SCHEDULER = "dae-lab-scheduler"
OBJECT_STORE_BYTES = 96 * 1024**2  # a run's checkpoint is ~1 MB; Ray's floor is 75 MB
CPUS_PER_RUN = 2  # PyTorch's CPU training gains little beyond two threads for this small model
_connect_lock = threading.Lock()
_SCHEDULER_HANDLE = None  # this process's handle on the Scheduler actor


class JobError(DaeError):
    """Ray could not be started or reached, or a setting for it is wrong; one line."""


def max_runs() -> int:
    """How many runs may train at once: $DAE_MAX_RUNS, else one per CPUS_PER_RUN cores (at least 1)."""
    value = os.environ.get("DAE_MAX_RUNS", "")
    if not value:
        return max(1, (os.cpu_count() or 1) // CPUS_PER_RUN)
    if not value.isdigit() or int(value) < 1:
        raise JobError(f"DAE_MAX_RUNS must be a whole number of at least 1, not {value!r}")
    return int(value)


def connect() -> None:
    """Start a local Ray sized to this machine, or join $RAY_ADDRESS (once per process).

    Workers import the installed package and read this checkout's data folder, so on a cluster
    every node needs the same checkout at the same path, installed (`pip install -e .`).
    """
    with _connect_lock:
        if ray.is_initialized():
            return
        options = dict(namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING,
                       runtime_env={"env_vars": {"DAE_DATA_DIR": str(DATA_DIR)}})
        if not os.environ.get("RAY_ADDRESS"):
            cpus = max(os.cpu_count() or 1, max_runs())  # the cap, not Ray, decides what waits
            # address="local": always a Ray of our own, never one a `ray start` left on the machine
            options.update(address="local", num_cpus=cpus, object_store_memory=OBJECT_STORE_BYTES,
                           include_dashboard=False)
        if threading.current_thread() is threading.main_thread():  # the command line
            _init(options)
        else:
            _init_in_lasting_thread(options)


def _init(options: dict) -> None:
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = os.environ.get("RAY_ADDRESS") or "a local Ray"
        raise JobError(f"cannot start training on {where}: {e}") from None


def _init_in_lasting_thread(options: dict) -> None:
    """ray.init from a thread that lives as long as this process.

    On Linux a local Ray's processes get the parent-death signal (prctl PR_SET_PDEATHSIG), which
    fires when the *thread* that started them ends, and Streamlit runs every page in a thread
    that ends with the run: started from there, Ray would die after the first page run.
    """
    outcome: list = []
    started = threading.Event()

    def keep() -> None:
        try:
            _init(options)
            outcome.append(None)
        except JobError as e:
            outcome.append(e)
        started.set()
        if outcome[0] is None:
            threading.Event().wait()  # hold the thread (and so Ray's processes) until exit

    threading.Thread(target=keep, name="dae-ray", daemon=True).start()
    started.wait()
    if outcome[0] is not None:
        raise outcome[0]


def _scheduler():
    """The cluster's one Scheduler, created by whichever process asks first."""
    global _SCHEDULER_HANDLE
    # One creator per process: a local (non-detached) actor dies with the handle that created it,
    # so two sessions creating it at once would leave this module holding the other, doomed one.
    with _connect_lock:
        if _SCHEDULER_HANDLE is None:
            detached = bool(os.environ.get("RAY_ADDRESS"))  # shared by every app server on the cluster
            _SCHEDULER_HANDLE = Scheduler.options(
                name=SCHEDULER, namespace=NAMESPACE, get_if_exists=True,
                lifetime="detached" if detached else None).remote(max_runs())
    return _SCHEDULER_HANDLE


def _run_options(config: dict) -> dict:
    """Resources one run asks for: up to CPUS_PER_RUN cores of one node (a share of the cluster
    when the cap allows more runs than that), and a GPU where the cluster has one and the config
    allows it."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    largest = max((int(r.get("CPU", 0)) for r in nodes), default=1)
    share = int(sum(r.get("CPU", 0) for r in nodes)) // max_runs()
    gpu = config.get("device", "auto") in ("auto", "cuda") and any(r.get("GPU", 0) >= 1 for r in nodes)
    cpus = max(1, min(CPUS_PER_RUN, largest, share))
    return {"num_cpus": cpus, "num_gpus": 1 if gpu else 0, "max_concurrency": 4}


class RunHandle:
    """The app's (or the command line's) view of one run: refresh() never blocks on the worker."""

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
        """Take in whatever the scheduler or the worker has said since the last call."""
        if not self.active:
            return
        try:
            if self._actor is None and not self._find_actor():
                return
            if self._pending is None:
                self._pending = self._actor.poll.remote(self._seen, self.model_epoch)
            ready, _ = ray.wait([self._pending], timeout=0)
            if ready:
                progress, self._pending = ray.get(ready[0]), None
                self.apply(progress)
                if self.active:  # ask again at once, so the next refresh finds this interval's
                    # progress ready (asked only then, the counter would move every other refresh)
                    self._pending = self._actor.poll.remote(self._seen, self.model_epoch)
        except RayError as e:
            self.status, self.message = "failed", describe_failure(e)
        if not self.active:
            self._forget()

    def _find_actor(self) -> bool:
        place = ray.get(_scheduler().place.remote(self.run_id), timeout=30)
        if place[0] == "queued":
            self.status, self.position = "queued", place[1]
        elif place[0] == "ended":
            self.status, self.message = place[1], place[2]
        elif place[0] == "unknown":
            self.status, self.message = "failed", "the cluster no longer knows this run"
        else:
            self.status, self._actor = "starting", place[1]
        return self._actor is not None

    def apply(self, progress) -> None:
        """Take in a dae_core.runs.Progress (what the worker's poll returned)."""
        self.history = progress.history
        self.batches.extend(progress.batches)
        self._seen += len(progress.batches)
        self.last_batch = progress.last_batch or self.last_batch
        self.started = progress.started
        if progress.payload is not None:
            self.payload, self._model = progress.payload, None
        self.status, self.message = progress.status, progress.message

    def _forget(self) -> None:
        try:
            _scheduler().release.remote(self.run_id)
        except RayError:
            pass  # the cluster itself is gone; nothing is left to free

    def stop(self) -> None:
        """Leave the queue, or stop training within one batch (finished epochs are kept)."""
        if self.active:
            _scheduler().cancel.remote(self.run_id)

    def wait(self, timeout: float | None = None, poll_s: float = 0.2) -> None:
        """Block until the run ends (tests and the command line)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.active and (deadline is None or time.monotonic() < deadline):
            self.refresh()
            time.sleep(poll_s)

    def model(self):
        """The model after the latest finished epoch (eval mode), or None before one."""
        if self._model is None and self.payload is not None:
            self._model = from_payload(self.payload).model
        return self._model

    def save(self, name: str, directory) -> str:
        """Save the latest finished epoch under <directory>/<name>.pt; refuses unsafe or taken names."""
        if self.active:
            raise DaeError("stop the run before saving it")
        if self.payload is None:
            raise DaeError("no epoch finished, so there is nothing to save")
        # Exclusive: of two saves under one new name, one wins and the other is told it is taken.
        self.saved_path = str(save(self.payload, safe_path(name, directory), overwrite=False))
        return self.saved_path


def submit(request: RunRequest, batches: list | None = None) -> RunHandle:
    """Queue a run on the cluster (starting Ray first if needed) -> its handle."""
    connect()
    run_id = uuid.uuid4().hex[:12]
    try:
        ray.get(_scheduler().submit.remote(run_id, request, _run_options(request.config)), timeout=60)
    except (RayError, GetTimeoutError) as e:
        raise JobError(f"cannot queue the run: {e}") from None
    return RunHandle(run_id, request, batches)


def describe_cluster() -> str:
    """'a local Ray (2 CPUs)' or 'the Ray cluster at ADDRESS (8 CPUs, 1 GPU)'."""
    res = ray.cluster_resources()
    size = f"{res.get('CPU', 0):g} CPUs" + (f", {res['GPU']:g} GPUs" if res.get("GPU") else "")
    address = os.environ.get("RAY_ADDRESS")
    return f"the Ray cluster at {address} ({size})" if address else f"a local Ray ({size})"
