"""ui.worker: which sessions watch a run; a run nobody has watched for the grace period stops."""
import threading

import pytest

from ui import worker
from ui.session import SessionGuard


class FakeRun:
    """Stands in for a jobs.RunHandle: records stop() and wait()."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.stopped = threading.Event()
        self.waited = threading.Event()

    def stop(self):
        self.stopped.set()

    def wait(self, timeout=None):
        self.waited.set()


@pytest.fixture
def watched(monkeypatch):
    """A fake run registered as the server's, with a 0.05 s grace."""
    monkeypatch.setenv("DAE_ORPHAN_GRACE_S", "0.05")
    run = FakeRun("run-1")
    monkeypatch.setattr(worker.jobs, "submit", lambda request, batches=None: run)
    guard = SessionGuard()
    from dae_core import TrainConfig

    assert worker.start(TrainConfig(train_subset=300, epochs=1), guard) is run
    yield run, guard
    worker._runs.pop(run.run_id, None)


def test_a_started_run_is_found_by_its_id_and_an_unknown_id_is_not(watched):
    run, _ = watched
    assert worker.find("run-1", SessionGuard()) is run
    assert worker.find("no-such-run", SessionGuard()) is None


def test_a_run_whose_only_tab_closed_is_stopped_followed_and_forgotten(watched):
    run, guard = watched
    guard.close()
    assert run.stopped.wait(5) and run.waited.wait(5)
    assert worker.find("run-1", SessionGuard()) is None


def test_a_reload_within_the_grace_keeps_the_run(watched, monkeypatch):
    run, old_tab = watched
    monkeypatch.setenv("DAE_ORPHAN_GRACE_S", "0.3")
    new_tab = SessionGuard()
    assert worker.find("run-1", new_tab) is run  # the reloaded page reattaches
    old_tab.close()
    assert not run.stopped.wait(0.8)
    new_tab.close()  # and now every tab that showed it is gone
    assert run.stopped.wait(5)


def test_a_guard_reopened_by_a_page_run_counts_as_watching(watched, monkeypatch):
    run, guard = watched
    monkeypatch.setenv("DAE_ORPHAN_GRACE_S", "0.3")
    guard.close()
    guard.open = True  # the tab reconnected and ran a page (ui.session.guard)
    assert not run.stopped.wait(0.8)


@pytest.fixture
def fresh_warm_up(monkeypatch):
    """ui.worker as if this server had not warmed up yet; jobs.connect replaced by `calls`."""
    calls = []
    monkeypatch.setattr(worker, "_warming", None)
    return calls


def test_warm_up_connects_once_in_the_background(fresh_warm_up, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(worker.jobs, "connect", lambda: fresh_warm_up.append(1) or release.wait(5))
    thread = worker.warm_up()  # returns at once, while Ray is still starting
    assert thread.is_alive() and thread.name == "dae-ray-warm-up"
    assert worker.warm_up() is thread  # a second page open does not start another
    release.set()
    thread.join(5)
    assert fresh_warm_up == [1]


def test_a_failed_warm_up_is_logged_not_raised(fresh_warm_up, monkeypatch, caplog):
    def no_ray():
        raise worker.jobs.JobError("cannot start training on a local Ray: no room")

    monkeypatch.setattr(worker.jobs, "connect", no_ray)
    worker.warm_up().join(5)
    assert "could not start Ray" in caplog.text and "no room" in caplog.text
