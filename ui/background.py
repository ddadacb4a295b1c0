"""A page's slow analysis as tasks on the server's board (dae_core.tasks, run in Ray workers).

The page holds tickets, never a thread: queued (its place in line), running (seconds so far),
failed (one line and Try again) or cancelled (Start again). A fragment polls the board twice a
second, and each poll is what starts queued tasks and collects ended ones; when every ticket has
ended the fragment reruns the page, which then reads the results.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from dae_core import tasks
from dae_core.errors import DaeError

from .words import plain

TICKETS = "analysis_tickets"  # session_state: name -> Held
POLL_S = 0.5


@dataclass(frozen=True)
class Ask:
    """One task to ask for: fn(*args) under `key` (the same key as its disk-cache entry), and
    on_done(result), which stores the result where the page reads it next time."""

    key: tuple
    fn: object
    args: tuple
    label: str
    on_done: object = None


@dataclass
class Held:
    """A session's tickets for one of its page's analyses, asked with these settings."""

    settings: tuple
    tickets: list = field(default_factory=list)
    cancelled: bool = False


def _held() -> dict:
    return st.session_state.setdefault(TICKETS, {})


def _cancel(name: str) -> None:
    held = _held().get(name)
    if held is not None:
        for ticket in held.tickets:
            tasks.board().cancel(ticket)
        held.cancelled = True


def _restart(name: str) -> None:
    """Forget the tickets, so the next page run asks again (a running one is let go first)."""
    held = _held().pop(name, None)
    for ticket in held.tickets if held is not None else []:
        tasks.board().cancel(ticket)  # a no-op for an ended one


def run(name: str, settings: tuple, asks, label: str) -> dict | None:
    """Ask.key -> result of the tasks of `asks()` (a list of Ask, called only when asking), once
    all are done; until then None, with their state and a Cancel button drawn here.
    New settings let go of the old tickets and ask anew; a cancelled or failed analysis stays
    so, with a button to ask again, until the settings change."""
    held = _held().get(name)
    try:
        if held is None or held.settings != settings:
            if held is not None:
                _restart(name)
            made = asks()
            held = _held()[name] = Held(settings, [tasks.board().ask(
                a.key, a.fn, *a.args, label=a.label, on_done=a.on_done) for a in made])
        if held.cancelled:
            st.info(f"{label}: Cancelled.")
            st.button("Start again", key=f"{name}_retry", on_click=_restart, args=(name,))
            return None
        states = [tasks.board().poll(t) for t in held.tickets]
    except DaeError as e:  # a bad DAE_MAX_TASKS, say
        st.error(f"{label}: {plain(e)}")
        return None
    failed = [s for s in states if s.status in ("failed", "cancelled")]
    if failed:
        st.error(f"{label} failed: {plain(failed[0].message or 'cancelled elsewhere')}")
        st.button("Try again", key=f"{name}_retry", on_click=_restart, args=(name,))
        return None
    if all(s.status == "done" for s in states):
        return {t.key: s.result for t, s in zip(held.tickets, states)}
    _progress(name, label)
    return None


def describe(states: list, label: str) -> tuple[float, str]:
    """(fraction ended, text) of a group of task states, for the progress bar."""
    ended = sum(s.ended for s in states)
    waiting = [s for s in states if not s.ended]
    of = f", {ended} of {len(states)} done" if len(states) > 1 else ""
    if not waiting:
        return 1.0, f"{label}: done"
    first = min(waiting, key=lambda s: (s.status != "running", s.place))
    if first.status == "queued":
        return ended / len(states), f"{label}: queued, place {first.place} of {first.queued}{of}"
    return ended / len(states), f"{label}: running ({first.seconds:.0f} s{of})"


def _progress(name: str, label: str) -> None:
    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        held = _held().get(name)
        try:
            states = [] if held is None or held.cancelled else [tasks.board().poll(t)
                                                                 for t in held.tickets]
        except DaeError:
            states = []
        if not states or any(s.ended and s.status != "done" for s in states) or all(
                s.ended for s in states):
            st.rerun()  # the whole page: it shows the results, the failure or the cancel
        fraction, text = describe(states, label)
        st.progress(fraction, text=text)
        st.button("Cancel", key=f"{name}_cancel", on_click=_cancel, args=(name,))

    poll()
