"""Long work of one browser session on a thread, with a progress bar and a Cancel button.

The work never calls st.*: it gets report(text, fraction) and a stop event, and the core checks
the event between steps (a step already running, such as a UMAP fit, runs to its end and its
result is dropped). A fragment polls the task twice a second and reruns the page when it ends.
"""
from __future__ import annotations

import logging
import threading
import time

import streamlit as st

from dae_core.cluster import Cancelled
from dae_core.errors import DaeError

from .words import plain

TASKS = "background_tasks"  # session_state: name -> Task
POLL_S = 0.5

log = logging.getLogger(__name__)


class Task:
    """work(report, stop) on a daemon thread; its latest report, result or error, and stop()."""

    def __init__(self, key: tuple, work) -> None:
        self.key, self.text, self.fraction = key, "starting…", 0.0
        self.result, self.error, self.done = None, None, False
        self.stop_event, self.started = threading.Event(), time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def report(self, text: str, fraction: float | None = None) -> None:
        self.text = text
        if fraction is not None:
            self.fraction = min(max(float(fraction), 0.0), 1.0)

    def _run(self, work) -> None:
        try:
            self.result = work(self.report, self.stop_event)
        except Cancelled:
            pass
        except DaeError as e:  # expected (bad data, a setting): one line in the server's log
            log.warning("task %s failed: %s", self.key, e)
            self.error = e
        except Exception as e:  # noqa: BLE001  shown on the page, never raised on the thread
            log.error("task %s failed", self.key, exc_info=True)  # unexpected: with its traceback
            self.error = e
        finally:
            self.done = True

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def cancelled(self) -> bool:
        return self.stop_event.is_set()

    def seconds(self) -> float:
        return time.monotonic() - self.started


def tasks() -> dict:
    return st.session_state.setdefault(TASKS, {})


def _restart(name: str) -> None:
    tasks().pop(name, None)


def run(name: str, key: tuple, work, label: str):
    """The result of `work` once its task has finished; until then None, with the task's progress
    and a Cancel button drawn here. A new key (other settings) stops the old task and starts anew;
    a cancelled task stays cancelled, with a button to start it again, until the key changes."""
    task = tasks().get(name)
    if task is None or task.key != key:
        if task is not None:
            task.stop()
        task = tasks()[name] = Task(key, work)
    if task.done and not task.cancelled:
        if task.error is not None:
            st.error(f"{label} failed: {plain(task.error)}")  # an exception's text, as written
            st.button("Try again", key=f"{name}_retry", on_click=_restart, args=(name,))
            return None
        return task.result
    if task.cancelled:
        st.info(f"{label}: cancelled." + ("" if task.done else
                " The step under way finishes in the background; its result is dropped."))
        st.button("Start again", key=f"{name}_retry", on_click=_restart, args=(name,))
        return None
    _progress(name, label)
    return None


def _progress(name: str, label: str) -> None:
    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        task = tasks().get(name)
        if task is None or task.done or task.cancelled:
            st.rerun()  # the whole page: it shows the result, or that the task was cancelled
        st.progress(task.fraction, text=f"{label}: {task.text} ({task.seconds():.0f} s)")
        st.button("Cancel", key=f"{name}_cancel", on_click=task.stop)

    poll()
