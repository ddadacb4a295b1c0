"""One job layer for runs and analyses: submit, queue, deduplicate, cancel, time out, report.

A job is a command of our own CLI run by Ray Jobs (dae_core.serve.ray_jobs), named by what it
computes: `dae-run-<run id>`, or `dae-analysis-<hash of the analysis and its model>`. The name is
the deduplication: a second submit of a running analysis joins it, from any session of any server
process. Ray queues what its slots (`dae_run`, `dae_analysis`) cannot take yet. A job's result is
on disk (its run folder, or the result cache), so it is collected once, by whoever reads first,
and outlives the server.

Every call here has a time limit; none holds a lock across a request; none shuts Ray down. When
Ray does not answer, a job's state is 'unavailable' with one line, and the page carries on.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass

from dae_core import settings
from dae_core.serve import ray_jobs
from dae_core.serve.ray_jobs import RayUnavailable

log = logging.getLogger(__name__)
SLOT = {"run": "dae_run", "analysis": "dae_analysis"}  # the Ray resource a job of each kind holds
THREADS = {"run": settings.CPUS_PER_RUN, "analysis": 1}  # BLAS/OpenMP threads of its process
STATE_CACHE_S = 0.5  # sessions polling one job within this share one answer from Ray
PASSED_ON = ("data_dir", "cache_dir", "cache_max_mb", "runs_dir", "log_level")  # the settings a job reads too


@dataclass(frozen=True)
class JobState:
    """queued | running | done | failed | cancelled | unknown | unavailable, with what goes with it."""

    status: str
    message: str = ""
    place: int = 0  # queued: 1 for the next of its kind to start
    queued: int = 0  # queued: how many of its kind wait
    seconds: float = 0.0  # running: since it started

    @property
    def ended(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


_STATUS = {"PENDING": "queued", "RUNNING": "running", "SUCCEEDED": "done", "FAILED": "failed",
           "STOPPED": "cancelled"}


# A job's CPU priority (Unix niceness) under the web server's: where jobs share the machine with
# the server, a page's script runs before the next training step or fit.
JOB_NICENESS = 10


def yield_to_the_server() -> None:
    """Lower this job process's CPU priority to JOB_NICENESS (where the OS has niceness); a job's
    process calls it first."""
    if hasattr(os, "nice"):
        os.nice(max(0, JOB_NICENESS - os.nice(0)))


def command(*args: str) -> list[str]:
    """`python -m dae_core ARGS` with this interpreter: on a cluster, every node has the same
    checkout and environment at the same path (docs/deploy.md)."""
    return [sys.executable, "-m", "dae_core", *args]


def _env(kind: str) -> dict:
    threads = str(THREADS[kind])
    env = settings.environment(*PASSED_ON)
    return {**env, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}


def submit(job_id: str, kind: str, argv: list[str], label: str, again: bool = False,
           wait_s: float = ray_jobs.START_TIMEOUT_S) -> JobState:
    """Start the job `job_id` (starting a local Ray when none answers, waiting up to `wait_s` for
    it), or join it when it is already queued or running. An ended job of that id is replaced when
    `again` (a retry), else its state is returned. Raises RayUnavailable with one line when Ray
    cannot take it."""
    ray_jobs.ensure_head(wait_s=wait_s)
    meta = {"dae": kind, "label": label[:200]}
    if ray_jobs.submit(job_id, argv, {SLOT[kind]: 1}, meta, _env(kind)):
        log.info("%s submitted: %s (%s)", kind, label, job_id)
        _forget(job_id)
        return JobState("queued")
    found = ray_jobs.info(job_id)
    if found is not None and (found.active or not again):
        return _state_of(found)
    ray_jobs.delete(job_id)  # ended: asked again
    if not ray_jobs.submit(job_id, argv, {SLOT[kind]: 1}, meta, _env(kind)):
        return state(job_id)  # another session resubmitted it first: joined
    log.info("%s submitted again: %s (%s)", kind, label, job_id)
    _forget(job_id)
    return JobState("queued")


_seen: dict[str, tuple[float, JobState]] = {}  # job id -> (when, state): recent answers, bounded below
_seen_lock = threading.Lock()
SEEN_MAX = 512


def _forget(job_id: str) -> None:
    with _seen_lock:
        _seen.pop(job_id, None)


def state(job_id: str) -> JobState:
    """The job's state now (answers younger than STATE_CACHE_S are shared); never raises."""
    now = time.monotonic()
    with _seen_lock:
        hit = _seen.get(job_id)
    if hit is not None and now - hit[0] < STATE_CACHE_S:
        return hit[1]
    try:
        found = ray_jobs.info(job_id)
        out = JobState("unknown", "Ray does not know this job") if found is None else _state_of(found)
    except RayUnavailable as e:
        out = JobState("unavailable", str(e))
    with _seen_lock:
        if len(_seen) >= SEEN_MAX:
            _seen.clear()
        _seen[job_id] = (now, out)
    return out


def _state_of(job: ray_jobs.JobInfo) -> JobState:
    status = _STATUS.get(job.status, "failed")
    if status == "queued":
        place, queued = _place(job)
        return JobState("queued", place=place, queued=queued)
    if status == "running":
        return JobState("running", seconds=max(0.0, time.time() - job.start_time))
    if status == "failed":
        return JobState("failed", _failure(job))
    return JobState(status, job.message)


def _place(job: ray_jobs.JobInfo) -> tuple[int, int]:
    """(place in line from 1, how many wait) among the pending jobs of the same kind."""
    try:
        waiting = [j for j in ray_jobs.jobs() if j.status == "PENDING"
                   and j.metadata.get("dae") == job.metadata.get("dae")]
    except RayUnavailable:
        return 0, 0
    waiting.sort(key=lambda j: j.start_time)
    ids = [j.id for j in waiting]
    return (ids.index(job.id) + 1 if job.id in ids else 0), len(ids)


def _failure(job: ray_jobs.JobInfo) -> str:
    """One line on why the job failed: the error line our CLI printed, else the last line of its
    output (an exception's type and text), else Ray's message. The whole log stays with Ray."""
    try:
        lines = [ln.strip() for ln in ray_jobs.logs(job.id).splitlines() if ln.strip()]
    except RayUnavailable:
        lines = []
    ours = [ln for ln in lines if ln.startswith("error: ")]
    if ours:
        return ours[-1].removeprefix("error: ")[:300]
    if lines:
        return lines[-1][:300]
    return " ".join(job.message.split())[:300] or "the job failed"


def cancel(job_id: str, label: str) -> None:
    """Stop the job (a queued one leaves the queue); logged once, as a cancel."""
    try:
        ray_jobs.stop(job_id)
    except RayUnavailable as e:
        log.warning("could not cancel %s: %s", label, e)
        return
    _forget(job_id)
    log.info("cancelled: %s (%s)", label, job_id)
