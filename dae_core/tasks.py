"""A process-wide board of analysis tasks (clusterings, maps, sample scores, encodings) run as Ray
tasks, out of the web server's threads.

ask(key, fn, *args) gives a ticket. One key is one task however many sessions ask for it, and
every asker gets its result. At most $DAE_MAX_TASKS run at once; the rest wait first-in,
first-out. There is no thread of ours: each poll() starts what the queue lets start and collects
what has ended (ray.wait with no timeout). cancel() drops one asker; a task left without askers
leaves the queue, or is ended (ray.cancel with force: its worker process exits). An ended task is
dropped once every asker has read it, and a task nobody polled for ABANDONED_S is cancelled.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass

from .config import ConfigError

MAX_TASKS = 2  # $DAE_MAX_TASKS: analysis tasks running at once (each takes one core)
ABANDONED_S = 120.0  # a task nobody polled for this long lost its pages (tabs closed): it ends
KEEP_ENDED_S = 600.0  # an ended task some asker never read is dropped after this
log = logging.getLogger(__name__)


def max_tasks() -> int:
    """How many analysis tasks may run at once: $DAE_MAX_TASKS, else MAX_TASKS."""
    value = os.environ.get("DAE_MAX_TASKS", "").strip()
    if not value:
        return MAX_TASKS
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"DAE_MAX_TASKS must be a whole number of at least 1, not {value!r}")
    return int(value)


class Ticket:
    """One asker's claim on a task; what it read last, once the task has ended, stays on it."""

    def __init__(self, key, label: str, asker: int) -> None:
        self.key, self.label, self.asker = key, label, asker
        self.ended: State | None = None  # the final state, once read (kept: the entry goes)


@dataclass(frozen=True)
class State:
    """What a ticket's task is doing: status queued | running | done | failed | cancelled."""

    status: str
    place: int = 0  # queued: 1 for the next to start
    queued: int = 0  # queued: how many wait in all
    seconds: float = 0.0  # running: since it was submitted
    result: object = None  # done
    message: str = ""  # failed: one line

    @property
    def ended(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class _Entry:
    def __init__(self, key, fn, args, label: str, on_done) -> None:
        self.key, self.fn, self.args, self.label, self.on_done = key, fn, args, label, on_done
        self.askers: set[int] = set()
        self.status, self.ref, self.started, self.final = "queued", None, 0.0, None
        self.touched = time.monotonic()  # last ask or poll


class Board:
    """The tasks of this process (see the module's docstring); `runner` submits them (RayRunner)."""

    def __init__(self, runner=None) -> None:
        if runner is None:
            from .analyses import RayRunner

            runner = RayRunner()
        self.runner = runner
        self._lock = threading.Lock()  # guards the fields below; never held across a wait on Ray
        self._entries: dict = {}  # key -> _Entry, from its first ask until every asker read its end
        self._queue: list = []  # keys waiting, first in first out
        self._askers = itertools.count(1)

    def ask(self, key, fn, *args, label: str, on_done=None) -> Ticket:
        """A ticket on fn(*args): joins the task of `key` when there is one. on_done(result) runs
        once, in the process that collected the result (to store it)."""
        log.info("analysis asked: %s", label)
        with self._lock:
            abandoned = self._sweep()
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(key, fn, args, label, on_done)
                self._queue.append(key)
            ticket = Ticket(key, label, next(self._askers))
            entry.askers.add(ticket.asker)
            entry.touched = time.monotonic()
        for ref in abandoned:
            self.runner.cancel(ref)
        return ticket

    def poll(self, ticket: Ticket) -> State:
        """The ticket's state, after collecting ended tasks and starting queued ones."""
        if ticket.ended is not None:
            return ticket.ended
        self._collect()
        self._dispatch()
        with self._lock:
            abandoned = self._sweep()
        for ref in abandoned:
            self.runner.cancel(ref)
        with self._lock:
            entry = self._entries.get(ticket.key)
            if entry is None or ticket.asker not in entry.askers:
                ticket.ended = State("failed", message="this analysis was dropped; try again")
                return ticket.ended
            entry.touched = time.monotonic()
            if entry.final is not None:
                ticket.ended = entry.final
                entry.askers.discard(ticket.asker)
                if not entry.askers:
                    self._entries.pop(entry.key, None)
                return ticket.ended
            if entry.status == "queued":
                return State("queued", self._queue.index(entry.key) + 1, len(self._queue))
            return State("running", seconds=time.monotonic() - entry.started if entry.started else 0.0)

    def cancel(self, ticket: Ticket) -> None:
        """Drop this asker; a task without askers leaves the queue, or is ended when running."""
        ref = None
        with self._lock:
            if ticket.ended is None:
                ticket.ended = State("cancelled")
            entry = self._entries.get(ticket.key)
            if entry is None or ticket.asker not in entry.askers:
                return
            entry.askers.discard(ticket.asker)
            if not entry.askers:
                ref = self._drop(entry)
        if ref is not None:
            self.runner.cancel(ref)

    def counts(self) -> dict:
        """{'queued': n, 'running': n, 'ended': n}: the board's entries now."""
        with self._lock:
            states = [("ended" if e.final else e.status) for e in self._entries.values()]
        return {s: states.count(s) for s in ("queued", "running", "ended")}

    def _drop(self, entry: _Entry):
        """Forget an entry (under the lock); its Ray reference when it was running, to cancel."""
        self._entries.pop(entry.key, None)
        if entry.key in self._queue:
            self._queue.remove(entry.key)
        if entry.status == "running" and entry.final is None:
            log.info("analysis cancelled: %s", entry.label)
            return entry.ref
        return None

    def _sweep(self) -> list:
        """Drop (under the lock) tasks nobody polled for ABANDONED_S and ended ones nobody read;
        the Ray references of the running ones among them, to cancel."""
        now, refs = time.monotonic(), []
        for entry in list(self._entries.values()):
            limit = KEEP_ENDED_S if entry.final is not None else ABANDONED_S
            if now - entry.touched > limit:
                refs.append(self._drop(entry))
        return [r for r in refs if r is not None]

    def _collect(self) -> None:
        with self._lock:
            running = {e.ref: e for e in self._entries.values()
                       if e.status == "running" and e.ref is not None and e.final is None}
        if not running:
            return
        for ref in self.runner.ready(list(running)):
            entry = running[ref]
            try:
                result = self.runner.get(ref)
                final = State("done", result=result)
            except Exception as e:  # noqa: BLE001  the page shows one line; the log has it all
                log.error("analysis failed: %s", entry.label, exc_info=e)
                final = State("failed", message=self.runner.describe(e))
            if final.status == "done" and entry.on_done is not None:
                try:
                    entry.on_done(final.result)
                except Exception:  # noqa: BLE001  not stored: the askers still get the result
                    log.warning("could not store the result of %s", entry.label, exc_info=True)
            with self._lock:
                entry.final = entry.final or final

    def _dispatch(self) -> None:
        limit = max_tasks()
        while True:
            with self._lock:
                running = sum(e.status == "running" and e.final is None for e in self._entries.values())
                if running >= limit or not self._queue:
                    return
                entry = self._entries[self._queue.pop(0)]
                entry.status, entry.started = "running", time.monotonic()
            try:
                ref = self.runner.submit(entry.fn, entry.args)
            except Exception as e:  # noqa: BLE001  a Ray that cannot start: this task fails
                log.error("analysis could not start: %s", entry.label, exc_info=e)
                with self._lock:
                    entry.final = State("failed", message=self.runner.describe(e))
                continue
            log.info("analysis started: %s", entry.label)
            with self._lock:
                entry.ref, orphan = ref, entry.key not in self._entries  # cancelled meanwhile
            if orphan:
                self.runner.cancel(ref)


_board: Board | None = None
_board_lock = threading.Lock()


def board() -> Board:
    """This process's board, made on first use (Ray itself starts on the first submit)."""
    global _board
    with _board_lock:
        if _board is None:
            _board = Board()
        return _board


def use_board(new: Board | None) -> Board | None:
    """Put `new` in place of this process's board (None: a fresh one on next use); the old one."""
    global _board
    with _board_lock:
        old, _board = _board, new
    return old
