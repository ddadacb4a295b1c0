"""A page's slow analyses as jobs (dae_core.serve.jobs), read back from the result cache.

The page holds job names, never a thread or a result only in memory: each analysis is asked as a
job named by what it computes, so a session that asks what another is computing joins it, and
the result lands in the result cache for everyone. A fragment polls the jobs; when all are done
it reruns the page, which reads the results. Queued shows the place in line, running the time
so far (no bar that pretends to know how far a fit has come); failed shows one line and Try
again; cancelled, Start again; a Ray that does not answer, one line while the page goes on.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field

import streamlit as st

from dae_core.errors import DaeError
from dae_core.serve import jobs
from dae_core.serve.analyses import job_id

from .words import plain

log = logging.getLogger(__name__)
HELD = "analysis_jobs"  # session_state: name -> Held
TOKEN = "analysis_asker"  # session_state: this session's name among the askers of a job
POLL_S = 1.0
RETRY_S = 3.0  # while Ray cannot take an analysis, it is submitted again this often


@dataclass(frozen=True)
class Ask:
    """One analysis: `spec` (dae_core.serve.analyses) of the model `model` (its fingerprint);
    load() reads its result from the cache (None while there is none). `key` names the result."""

    key: tuple
    spec: dict
    model: str
    label: str
    load: object

    @property
    def job(self) -> str:
        return job_id(self.spec, self.model)


@dataclass
class Held:
    """A session's analyses for one of its page's widgets, asked with these settings."""

    settings: tuple
    asks: list = field(default_factory=list)
    cancelled: bool = False
    error: str = ""


# Which sessions of this server wait on which job: a cancel ends the job only when none is left.
# Bounded: an entry per job some session is waiting on; it goes when that job's last asker does.
_askers: dict[str, set[str]] = {}
_askers_lock = threading.Lock()


def _token() -> str:
    return st.session_state.setdefault(TOKEN, uuid.uuid4().hex)


def _held() -> dict:
    return st.session_state.setdefault(HELD, {})


def _submit(held: Held, again: bool = False) -> None:
    """Ask each analysis not in the cache as a job; a Ray that cannot take them is one line."""
    held.error, me = "", _token()
    for ask in held.asks:
        if ask.load() is not None:
            continue
        with _askers_lock:
            _askers.setdefault(ask.job, set()).add(me)
        argv = jobs.command("analyse", "--spec", json.dumps(ask.spec))
        try:  # no wait for a Ray that is starting: the page polls, and submits again
            found = jobs.submit(ask.job, "analysis", argv, ask.label, again=again, wait_s=0)
            if found.status == "done" and ask.load() is None:  # done long ago, its result since pruned
                jobs.submit(ask.job, "analysis", argv, ask.label, again=True, wait_s=0)
        except DaeError as e:
            log.warning("%s not started: %s", ask.label, e)
            held.error = str(e)
            return


def _stop_waiting(held: Held) -> list[Ask]:
    """This session no longer waits on held's jobs -> those nobody else here waits on."""
    me, alone = _token(), []
    with _askers_lock:
        for ask in held.asks:
            waiting = _askers.get(ask.job)
            if waiting is None:
                continue
            waiting.discard(me)
            if not waiting:
                del _askers[ask.job]
                alone.append(ask)
    return alone


def _let_go(held: Held) -> None:
    """This session stops waiting; a job nobody else here waits on is cancelled (logged once)."""
    for ask in _stop_waiting(held):
        if not jobs.state(ask.job).ended:
            jobs.cancel(ask.job, ask.label)


def _cancel(name: str) -> None:
    held = _held().get(name)
    if held is not None:
        _let_go(held)
        held.cancelled = True


def _again(name: str) -> None:
    held = _held().get(name)
    if held is not None:
        held.cancelled = False
        _submit(held, again=True)


def run(name: str, settings: tuple, asks, label: str) -> dict | None:
    """Ask.key -> result of the analyses of `asks()` (a list of Ask, called when the settings are
    new), once all are in the cache; until then None, with their state and Cancel drawn here."""
    held = _held().get(name)
    if held is None or held.settings != settings:
        if held is not None:
            _let_go(held)
        held = _held()[name] = Held(settings, list(asks()))
        _submit(held)
    results = {a.key: a.load() for a in held.asks}
    if all(r is not None for r in results.values()):
        _stop_waiting(held)  # nothing left to wait for: a later asker's Cancel is its own
        return results
    if held.cancelled:
        st.info(f"{plain(label)}: cancelled.")
        st.button("Start again", key=f"{name}_again", on_click=_again, args=(name,))
        return None
    if held.error:
        _waiting_for_ray(name, label)
        return None
    pending = [a for a in held.asks if results[a.key] is None]
    states = [jobs.state(a.job) for a in pending]
    if any(s.status == "done" for s in states):  # done since its result was read: read it again
        results = {a.key: a.load() for a in held.asks}
        if all(r is not None for r in results.values()):
            _stop_waiting(held)
            return results
        states = [s for a, s in zip(pending, states) if results[a.key] is None]
    failed = [s for s in states if s.status in ("failed", "cancelled", "unknown")
              or (s.status == "done")]  # done, yet not in the cache: lost (an evicted entry, say)
    if failed:
        f = failed[0]
        why = {"cancelled": "it was cancelled", "done": "its result is not in the cache",
               "unknown": "Ray no longer knows it (restarted?)"}.get(f.status, f.message)
        st.error(f"{plain(label)} failed: {plain(why)}")
        st.button("Try again", key=f"{name}_again", on_click=_again, args=(name,))
        return None
    _progress(name, label)
    return None


def describe(states: list, label: str) -> str:
    """One line on where a group of jobs stands."""
    done = sum(s.ended for s in states)
    of = f" ({done} of {len(states)} done)" if len(states) > 1 else ""
    waiting = [s for s in states if not s.ended]
    if not waiting:
        return f"{label}: done"
    unavailable = [s for s in waiting if s.status == "unavailable"]
    if unavailable:
        return f"{label}: waiting, Ray is unavailable ({unavailable[0].message}){of}"
    first = min(waiting, key=lambda s: (s.status != "running", s.place))
    if first.status == "queued":
        place = f", place {first.place} of {first.queued}" if first.place else ""
        return f"{label}: queued{place}{of}"
    return f"{label}: running for {first.seconds:.0f} s{of}"


def _waiting_for_ray(name: str, label: str) -> None:
    """Ray could not take the analyses: say why, and submit again every few seconds until it does."""
    @st.fragment(run_every=RETRY_S)
    def retry() -> None:
        held = _held().get(name)
        if held is None or held.cancelled:
            st.rerun()
        _submit(held)
        if not held.error:
            st.rerun()  # submitted: the page shows their progress
        st.warning(f"{plain(label)} is waiting: {plain(held.error)}")
        st.button("Cancel", key=f"{name}_cancel", on_click=_cancel, args=(name,))

    retry()


def _progress(name: str, label: str) -> None:
    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        held = _held().get(name)
        if held is None or held.cancelled:
            st.rerun()
        loaded = [a.load() is not None for a in held.asks]
        states = [jobs.JobState("done") if got else jobs.state(a.job) for a, got in zip(held.asks, loaded)]
        pending = [s for s, got in zip(states, loaded) if not got]
        if not pending or any(s.ended or s.status == "unknown" for s in pending):
            st.rerun()  # the whole page: it shows the results, or the failure
        st.caption(plain(describe(states, label)))  # "(1 of 3 done)" counts the results in the cache
        if len(held.asks) > 1:  # a real fraction: analyses done of those asked
            st.progress(sum(loaded) / len(held.asks))
        st.button("Cancel", key=f"{name}_cancel", on_click=_cancel, args=(name,))

    poll()
