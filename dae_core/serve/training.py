"""Runs as the web server and the command line see them: start, continue, follow, stop, save,
discard. A run's state comes from its folder (what its trainer wrote) and, while that says
nothing final, from its job; a server that restarts finds every run again on disk."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from dae_core.serve import disk, jobs, runs
from dae_core.serve.runs import Batch, Run, RunError
from dae_core.settings import MB, settings

log = logging.getLogger(__name__)


def job_id(run: Run) -> str:
    return f"dae-run-{run.id}"


@dataclass(frozen=True)
class RunState:
    """A run's state for a page: status, one line, its place in line, and what it has trained."""

    run: Run
    status: str  # queued | starting | running | finished | stopped | diverged | failed | interrupted
    message: str
    history: list = field(default_factory=list)
    batches: list = field(default_factory=list)  # Batch
    place: int = 0
    queued: int = 0

    @property
    def active(self) -> bool:
        return self.status not in runs.ENDED

    @property
    def last_batch(self) -> Batch | None:
        return self.batches[-1] if self.batches else None

    @property
    def model_epoch(self) -> int:
        return len(self.history)


def where() -> str:
    """Where runs train, in words: 'the local Ray' or 'the Ray cluster at URL'."""
    return jobs.ray_jobs.where()


def ensure_ray(wait_s: float) -> None:
    """Start a local Ray when none answers (or check the cluster's), waiting up to wait_s."""
    jobs.ray_jobs.ensure_head(wait_s=wait_s)


def runs_dir() -> Path:
    return settings().runs_dir


def max_bytes() -> int:
    return settings().runs_max_mb * MB


def start(config: dict, epochs: int, previous: Run | None = None, checkpoint: Path | None = None,
          history: list | None = None) -> Run:
    """A new run of `config`; or `epochs` more of `previous` (from its latest epoch), or of the
    checkpoint file `checkpoint` (whose `history` it carries), submitted as a job. Older unsaved
    runs are pruned first when the runs folder is over its bound."""
    folder = runs_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"the runs folder cannot be written ({e.strerror or e})") from None
    disk.prune(folder, max_bytes())
    if checkpoint is not None:
        run = runs.create(folder, config, epochs, history, Path(checkpoint))
    elif previous is None:
        run = runs.create(folder, config, epochs)
    else:
        if not previous.has_checkpoint():
            raise RunError("no epoch of that run finished, so there is nothing to continue")
        run = runs.create(folder, config, epochs, previous.history(), previous.checkpoint_path, previous)
    try:
        jobs.submit(job_id(run), "run", jobs.command("train", "--run-dir", str(run.folder)),
                    f"run {run.id}")
    except Exception:
        runs.remove(run)  # never submitted: nothing of it to keep
        raise
    log.info("run %s submitted (%d epochs)", run.id, epochs)
    return run


def find(run_id: object) -> Run | None:
    return runs.find(runs_dir(), run_id)


def state(run: Run) -> RunState:
    """What the run is doing now (never raises; Ray's absence is one line, not an error)."""
    history = run.history()
    batches, _ = run.batches()
    disk_status = run.status()
    status, message = disk_status.get("status", "queued"), disk_status.get("message", "")

    def out(s, m="", **kw):
        return RunState(run, s, m, history, batches, **kw)

    if status in runs.ENDED:
        return out(status, message)
    quiet_s = time.time() - float(disk_status.get("updated") or 0)
    if status in ("starting", "running") and quiet_s < runs.ASK_AFTER_S:
        return out(status, message)  # its trainer spoke a moment ago: no need to ask Ray
    job = jobs.state(job_id(run))
    if job.status == "unavailable":
        if status == "queued":
            return out("queued", f"waiting for Ray: {job.message}")
        if quiet_s < runs.STALE_S:
            return out(status, message)
        return out(status, f"no word from the training process for {quiet_s:.0f} s; {job.message}")
    if job.status == "queued":
        if run.stop_asked():
            return _end(run, out, "stopped", "Left the queue before it started.")
        return out("queued", "", place=job.place, queued=job.queued)
    if job.status == "running":
        return out("starting" if status == "queued" else status, message)
    if job.status == "failed" and status == "queued":
        return _end(run, out, "failed", f"the run could not start: {job.message}")
    if job.status == "cancelled" and status == "queued":
        return _end(run, out, "stopped", "Left the queue before it started.")
    if status == "queued":  # Ray lost it before it started (a restarted head forgets its queue)
        return _end(run, out, "interrupted", "Ray no longer knows this run, which never started "
                    f"({job.message or job.status}); start it again.")
    # the job ended (or Ray forgot it) while its folder says it was still going: its process died
    kept = f"epochs up to {len(history)} are kept" if run.has_checkpoint() else "no epoch had finished"
    return _end(run, out, "interrupted",
                f"The training process ended without finishing ({job.message or job.status}); {kept}.")


def _end(run: Run, out, status: str, message: str) -> RunState:
    """Record a final status the trainer could not write (it never started, or it died)."""
    runs.RunWriter(run).set_status(status, message)
    return out(status, message)


def stop(run: Run) -> None:
    """Stop within one batch (a queued run leaves the queue); finished epochs are kept."""
    run.ask_stop()
    if run.status().get("status", "queued") == "queued":  # not started: Ray takes it out of its queue
        jobs.cancel(job_id(run), f"run {run.id}")


def save(run: Run, name: str) -> Path:
    return disk.save(run, name, runs_dir(), max_bytes())


def discard(run: Run) -> None:
    """Delete an ended, unsaved run's folder."""
    if state(run).active:
        raise RunError("stop the run before discarding it")
    runs.remove(run)


def check_runs_dir() -> str | None:
    """At start: remove the leftovers of saves cut short, and say in one line when the runs folder
    cannot be written (None when it can)."""
    folder = runs_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-check-{time.time_ns()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return f"the runs folder {folder} cannot be written ({e.strerror or e}): training is off"
    for name in runs.remove_leftovers(folder):
        log.info("removed %s, left by a save cut short", name)
    return None
