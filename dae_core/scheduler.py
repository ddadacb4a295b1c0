"""The queue in front of the cluster: a Ray actor that lets a fixed number of runs train at once.

Runs wait first-in, first-out; each admitted run is a TrainingRun actor in its own worker
process. The Scheduler watches every admitted run's train() call, so a worker that dies frees
its slot and the next run starts. When a run ends, the Scheduler keeps its final progress and
ends its worker at once: the cores and memory go to the next run even while nobody has read
the result yet (a closed tab, a busy caller). ask() is how a process talks to it: a Scheduler that died
(its process killed, say) is created anew on the next call.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from .config import ConfigError
from .errors import one_line
from .runs import RunRequest, TrainingRun

RunActor = ray.remote(TrainingRun)  # one run in its own worker process
KEEP_ENDED_S = 600  # an ended run nobody released (its app server went away) is freed after this
NAME, NAMESPACE = "dae-lab-scheduler", "dae-lab"
CPUS_PER_RUN = 2  # PyTorch's CPU training gains little beyond two threads for this small model
ASK_TIMEOUT_S = 30.0  # for the Scheduler's answer (its first call waits for its process to start)
log = logging.getLogger(__name__)
_handle_lock = threading.Lock()  # one creator of the Scheduler per process
_handle = None  # this process's handle on the Scheduler actor


@ray.remote(num_cpus=0)
class Scheduler:
    """A first-in, first-out queue in front of the cluster: at most max_runs train at once."""

    def __init__(self, limit: int):
        self.limit = limit
        self.waiting: list[tuple[str, RunRequest, dict]] = []
        self.actors: dict = {}  # run id -> actor, from admission until the run is released
        self.training: set[str] = set()  # run ids whose train() call has not returned
        self.ended: dict[str, tuple[str, str]] = {}  # run id -> (status, message) of a cancelled or lost run
        self.done: dict = {}  # run id -> the final Progress of a run that ended in its worker

    async def submit(self, run_id: str, request: RunRequest, options: dict) -> None:
        self.waiting.append((run_id, request, options))
        self._admit()

    async def place(self, run_id: str, batches_seen: int = 0, epoch_seen: int = 0) -> tuple:
        """('queued', position from 1) | ('admitted', actor) | ('done', Progress after the caller's
        counts, as TrainingRun.poll gives it) | ('ended', status, message) | ('unknown',)."""
        for position, (waiting_id, _, _) in enumerate(self.waiting, 1):
            if waiting_id == run_id:
                return ("queued", position)
        if run_id in self.done:
            final = self.done[run_id]
            return ("done", dataclasses.replace(
                final, batches=final.batches[batches_seen:],
                payload=final.payload if len(final.history) > epoch_seen else None))
        if run_id in self.ended:
            return ("ended", *self.ended[run_id])
        if run_id in self.actors:
            return ("admitted", self.actors[run_id])
        return ("unknown",)

    async def cancel(self, run_id: str) -> None:
        """A queued run leaves the queue; a training one is asked to stop (it keeps its epochs)."""
        before = len(self.waiting)
        self.waiting = [w for w in self.waiting if w[0] != run_id]
        if len(self.waiting) < before:
            self.ended[run_id] = ("stopped", "cancelled while queued")
        elif run_id in self.actors:
            self.actors[run_id].stop.remote()

    async def release(self, run_id: str) -> None:
        """Forget a run whose results its owner has; its worker process exits."""
        actor = self.actors.pop(run_id, None)
        self.ended.pop(run_id, None)
        self.done.pop(run_id, None)
        if actor is not None:
            ray.kill(actor)

    def _admit(self) -> None:
        while self.waiting and len(self.training) < self.limit:
            run_id, request, options = self.waiting.pop(0)
            actor = RunActor.options(**options).remote(request)
            self.actors[run_id] = actor
            self.training.add(run_id)
            asyncio.get_running_loop().create_task(self._watch(run_id, actor))

    async def _watch(self, run_id: str, actor) -> None:
        try:
            await actor.train.remote()
            self.done[run_id] = await actor.poll.remote()  # the whole run: every batch, the last payload
        except RayError as e:  # the worker died or its actor could not be built
            self.ended[run_id] = ("failed", describe_failure(e))
        finally:
            self.training.discard(run_id)
            if self.actors.pop(run_id, None) is not None:
                ray.kill(actor)  # its cores (held for an actor's lifetime) and memory, for the next run
            self._admit()
        await asyncio.sleep(KEEP_ENDED_S)  # time for its app to fetch the last epoch and release it
        await self.release(run_id)


def max_runs() -> int:
    """How many runs may train at once: $DAE_MAX_RUNS, else one per CPUS_PER_RUN cores (at least 1)."""
    value = os.environ.get("DAE_MAX_RUNS", "")
    if not value:
        return max(1, (os.cpu_count() or 1) // CPUS_PER_RUN)
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"DAE_MAX_RUNS must be a whole number of at least 1, not {value!r}")
    return int(value)


def run_options(config: dict) -> dict:
    """Resources one run asks for: up to CPUS_PER_RUN cores of one node (a share of the cluster
    when the cap allows more runs than that), and a GPU where the cluster has one and the config
    allows it."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    largest = max((int(r.get("CPU", 0)) for r in nodes), default=1)
    share = int(sum(r.get("CPU", 0) for r in nodes)) // max_runs()
    gpu = config.get("device", "auto") in ("auto", "cuda") and any(r.get("GPU", 0) >= 1 for r in nodes)
    cpus = max(1, min(CPUS_PER_RUN, largest, share))
    return {"num_cpus": cpus, "num_gpus": 1 if gpu else 0, "max_concurrency": 4}


def scheduler():
    """This process's handle on the cluster's one Scheduler, created by whichever process asks first."""
    global _handle
    # One creator per process: a local (non-detached) actor dies with the handle that created it,
    # so two sessions creating it at once would leave this module holding the other, doomed one.
    if not _handle_lock.acquire(timeout=ASK_TIMEOUT_S):
        raise GetTimeoutError("the run queue is being created by another session")
    try:
        if _handle is None:
            detached = bool(os.environ.get("RAY_ADDRESS"))  # shared by every app server on the cluster
            _handle = Scheduler.options(name=NAME, namespace=NAMESPACE, get_if_exists=True,
                                        lifetime="detached" if detached else None).remote(max_runs())
        return _handle
    finally:
        _handle_lock.release()


def forget(handle=None) -> None:
    """Drop this process's handle (only if it is still `handle`, when given): the next call makes
    or finds the Scheduler again. After a new ray.init the old handle points nowhere."""
    global _handle
    with _handle_lock:
        if handle is None or _handle is handle:
            _handle = None


def ask(method: str, *args):
    """The Scheduler's answer to method(*args), within ASK_TIMEOUT_S; a Scheduler that died is
    created anew and asked once more."""
    for last_try in (False, True):
        handle = scheduler()
        try:
            return ray.get(getattr(handle, method).remote(*args), timeout=ASK_TIMEOUT_S)
        except RayActorError:  # ActorDiedError included
            log.warning("the run queue's actor died; %s", "giving up" if last_try else "creating it again",
                        exc_info=True)
            forget(handle)
            if last_try:
                raise


def describe_failure(error: Exception) -> str:
    """One line on why a run's worker went away."""
    if isinstance(error, RayActorError):
        return "the training process exited unexpectedly (killed, or out of memory)"
    return one_line(error, limit=200)
