"""The queue in front of the cluster: a Ray actor that lets a fixed number of runs train at once.

Runs wait first-in, first-out; each admitted run is a TrainingRun actor in its own worker
process. The Scheduler watches every admitted run's train() call, so a worker that dies frees
its slot and the next run starts.
"""
from __future__ import annotations

import asyncio

import ray
from ray.exceptions import RayActorError, RayError

from .runs import RunRequest, TrainingRun

RunActor = ray.remote(TrainingRun)  # one run in its own worker process
KEEP_ENDED_S = 600  # an ended run nobody released (its app server went away) is freed after this


@ray.remote(num_cpus=0)
class Scheduler:
    """A first-in, first-out queue in front of the cluster: at most max_runs train at once."""

    def __init__(self, limit: int):
        self.limit = limit
        self.waiting: list[tuple[str, RunRequest, dict]] = []
        self.actors: dict = {}  # run id -> actor, from admission until the run is released
        self.training: set[str] = set()  # run ids whose train() call has not returned
        self.ended: dict[str, tuple[str, str]] = {}  # run id -> (status, message) of a cancelled or lost run

    async def submit(self, run_id: str, request: RunRequest, options: dict) -> None:
        self.waiting.append((run_id, request, options))
        self._admit()

    async def place(self, run_id: str) -> tuple:
        """('queued', position from 1) | ('admitted', actor) | ('ended', status, message) | ('unknown',)."""
        for position, (waiting_id, _, _) in enumerate(self.waiting, 1):
            if waiting_id == run_id:
                return ("queued", position)
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
        if actor is not None:
            ray.kill(actor)

    def _admit(self) -> None:
        while self.waiting and len(self.training) < self.limit:
            run_id, request, options = self.waiting.pop(0)
            actor = RunActor.options(**options).remote(request)
            self.actors[run_id] = actor
            self.training.add(run_id)
            asyncio.get_running_loop().create_task(self._watch(run_id, actor.train.remote()))

    async def _watch(self, run_id: str, done) -> None:
        try:
            await done
        except RayError as e:  # the worker died or its actor could not be built
            self.ended[run_id] = ("failed", describe_failure(e))
        finally:
            self.training.discard(run_id)
            self._admit()
        await asyncio.sleep(KEEP_ENDED_S)  # time for its app to fetch the last epoch and release it
        await self.release(run_id)


def describe_failure(error: Exception) -> str:
    """One line on why a run's worker went away."""
    if isinstance(error, RayActorError):
        return "the training process exited unexpectedly (killed, or out of memory)"
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {' '.join(str(cause).split())[:200]}"
