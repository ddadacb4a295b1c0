"""This server's training runs: each is a Ray job (dae_core.jobs); this module, which never
calls st.*, remembers which browser sessions watch which run.

A run is found again by its id (the Train page keeps it in the URL), so a reload or a second tab
reattaches to it. When every session watching a run has been gone for the grace period
($DAE_ORPHAN_GRACE_S, default 60 s) the run is stopped, queued or training, and forgotten.
"""
from __future__ import annotations

import logging
import os
import threading

from dae_core import jobs
from dae_core.config import TrainConfig
from dae_core.runs import RunRequest

_runs: dict[str, "Watched"] = {}  # run id -> the run and the sessions watching it
_lock = threading.Lock()
_warming: threading.Thread | None = None  # connects this server to Ray once, in the background
log = logging.getLogger(__name__)


def grace_s() -> float:
    return float(os.environ.get("DAE_ORPHAN_GRACE_S", 60))


class Watched:
    """A run and the session guards (ui.session.SessionGuard) of the tabs that show it."""

    def __init__(self, handle: jobs.RunHandle):
        self.handle, self.guards = handle, []

    def watch(self, guard) -> None:
        if guard not in self.guards:
            self.guards.append(guard)
            guard.on_close(self._closed)

    def _closed(self) -> None:
        threading.Timer(grace_s(), self._orphan_check).start()

    def _orphan_check(self) -> None:
        if any(g.is_open() for g in self.guards):
            return  # a reload or another tab came back in time
        with _lock:
            _runs.pop(self.handle.run_id, None)
        self.handle.stop()
        # Nobody polls any more: follow the run to its end here, so its worker is released.
        threading.Thread(target=self.handle.wait, args=(600,), daemon=True).start()


def start(config: TrainConfig, guard, previous: jobs.RunHandle | None = None,
          epochs: int | None = None) -> jobs.RunHandle:
    """Queue a fresh run of `config`, or `epochs` more of `previous` (its curve carried over)."""
    if previous is None:
        request, batches = RunRequest(config.to_dict(), config.epochs), None
    else:
        request = RunRequest(config.to_dict(), epochs, resume=previous.payload)
        batches = previous.batches
    handle = jobs.submit(request, batches)
    watched = Watched(handle)
    watched.watch(guard)
    with _lock:
        _runs[handle.run_id] = watched
    return handle


def find(run_id: str, guard) -> jobs.RunHandle | None:
    """The run with this id, now also watched by this session; None when this server has no such run."""
    with _lock:
        watched = _runs.get(run_id)
    if watched is None:
        return None
    watched.watch(guard)
    return watched.handle


def warm_up() -> threading.Thread:
    """Connect this server to Ray on a background thread (once per process), so that the first
    Start does not wait the 4-10 s Ray takes to start; a failure is logged here and told to the
    user by the Start that retries it -> the thread (tests join it)."""
    global _warming
    with _lock:
        if _warming is None:
            _warming = threading.Thread(target=_connect_quietly, name="dae-ray-warm-up", daemon=True)
            _warming.start()
        return _warming


def _connect_quietly() -> None:
    try:
        jobs.connect()
    except Exception as e:  # noqa: BLE001  the first Start tries again and shows the user why it failed
        log.warning("could not start Ray ahead of the first run: %s", e)  # jobs logged the traceback
