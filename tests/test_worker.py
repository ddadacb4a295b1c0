"""ui.worker: the Train page's view of a run folder; a run started as a job, found again by its id,
continued, stopped in the queue, and shown as interrupted when its training process died."""
import json
import threading
import time

import pytest

from dae_core import TrainConfig
from dae_core.errors import DaeError
from dae_core.serve import jobs, runs, training
from dae_core.serve.ray_jobs import RayUnavailable
from dae_core.serve.runs import RunError
from inline_jobs import InlineJobs  # pytest puts tests/ on the path
from ui import worker

CFG = TrainConfig(train_subset=300, batch_size=64, epochs=1, device="cpu")  # 240 train images


def ended(view: worker.RunView, jobs_here: InlineJobs) -> worker.RunView:
    """The view once every job has ended, refreshed from its folder."""
    assert jobs_here.wait(120), "a job did not end"
    view.refresh()
    return view


def test_a_started_run_trains_as_a_job_and_a_fresh_view_finds_it_by_its_id(inline_jobs):
    view = worker.start(CFG)
    assert inline_jobs.submitted == [f"dae-run-{view.run_id}"]  # one job, named by the run
    ended(view, inline_jobs)
    assert view.status == "finished" and not view.active
    assert len(view.history) == 1 and view.has_checkpoint and view.batches
    found = worker.find(view.run_id)  # a reload, another tab, a restarted server: all from disk
    assert found is not view and found.run_id == view.run_id
    assert (found.status, found.history, found.batches) == (view.status, view.history, view.batches)
    assert found.config == CFG


@pytest.mark.parametrize("name", ["0123456789ab", "20261207-061502-3fa2c1", "../../etc/passwd", "", None])
def test_an_unknown_or_malformed_id_finds_no_run(name):
    assert worker.find(name) is None


def test_continuing_goes_on_from_the_checkpoint_in_a_run_of_its_own(inline_jobs):
    first = ended(worker.start(CFG), inline_jobs)
    more = worker.start(first.config, previous=first, epochs=2)
    assert more.run_id != first.run_id and (more.first_epoch, more.epochs_planned) == (2, 2)
    assert more.batches[:len(first.batches)] == first.batches  # the curve is carried over
    ended(more, inline_jobs)
    assert more.status == "finished", more.message
    assert [h["epoch"] for h in more.history] == [1, 2, 3] and more.history[0] == first.history[0]
    assert len(worker.find(first.run_id).history) == 1  # the first run is as it was


def test_a_run_with_no_finished_epoch_cannot_be_continued(inline_jobs):
    never = worker.RunView(runs.create(training.runs_dir(), CFG.to_dict(), 1))
    with pytest.raises(RunError, match="nothing to continue"):
        worker.start(CFG, previous=never, epochs=1)
    assert [r.id for r in worker.recent()] == [never.run_id] and not inline_jobs.submitted


def test_a_start_ray_refuses_is_one_line_and_leaves_no_run_folder(monkeypatch):
    def refuse(*args, **kwargs):
        raise RayUnavailable("the local Ray does not answer (connection refused)")

    monkeypatch.setattr(jobs, "submit", refuse)
    with pytest.raises(DaeError, match="does not answer") as e:
        worker.start(CFG)
    assert "\n" not in str(e.value) and worker.recent() == []


def test_stopping_a_queued_run_takes_it_out_of_the_queue(monkeypatch):
    hold = threading.Event()  # the queue does not move until it is set
    queue = InlineJobs(hold).install(monkeypatch)
    view = worker.start(CFG)
    assert (view.status, view.position) == ("queued", 1)
    view.stop()
    assert queue.cancelled == [f"dae-run-{view.run_id}"]
    view.refresh()
    assert view.status == "stopped" and "Left the queue" in view.message
    hold.set()
    ended(view, queue)
    assert view.status == "stopped" and not view.history and not view.has_checkpoint


def _last_heard(view: worker.RunView, status: str, seconds_ago: float) -> None:
    """Rewrite the run's status.json as its trainer would have, `seconds_ago`."""
    path = view.run.folder / "status.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": status,
                                "updated": time.time() - seconds_ago}))


@pytest.mark.slow  # takes seconds
def test_a_run_whose_training_process_died_is_interrupted_and_keeps_its_epochs(inline_jobs, helpers):
    view = helpers.ended_run(CFG)
    _last_heard(view, "running", 1.0)  # a fresh heartbeat: it trains, whatever Ray says
    view.refresh()
    assert view.status == "running" and view.active
    _last_heard(view, "running", runs.STALE_S + 5)  # silent, and Ray knows no such job: it died
    view.refresh()
    assert view.status == "interrupted" and not view.active
    assert "ended without finishing" in view.message and "epochs up to 1 are kept" in view.message
    assert worker.find(view.run_id).status == "interrupted"  # recorded in its folder


def test_recent_lists_the_newest_runs_first(inline_jobs):
    made = [runs.create(training.runs_dir(), CFG.to_dict(), 1) for _ in range(3)]
    newest_first = sorted((r.id for r in made), reverse=True)
    assert [r.id for r in worker.recent()] == newest_first
    assert [r.id for r in worker.recent(limit=2)] == newest_first[:2]


@pytest.fixture
def fresh_warm_up(monkeypatch):
    """ui.worker as if this server had not warmed up yet; Ray's start replaced by `calls`."""
    calls = []
    monkeypatch.setattr(worker, "_warming", None)
    return calls


def test_warm_up_starts_ray_once_in_the_background(fresh_warm_up, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(jobs.ray_jobs, "ensure_head", lambda wait_s: fresh_warm_up.append(wait_s) or release.wait(5))
    thread = worker.warm_up()  # returns at once, while Ray is still starting
    assert thread.is_alive() and thread.name == "dae-ray-warm-up"
    assert worker.warm_up() is thread  # a second page open does not start another
    release.set()
    thread.join(5)
    assert len(fresh_warm_up) == 1


def test_a_failed_warm_up_is_logged_not_raised(fresh_warm_up, monkeypatch, caplog):
    def no_ray(wait_s):
        raise RayUnavailable("a local Ray is starting (the last start failed: no room); try again")

    monkeypatch.setattr(jobs.ray_jobs, "ensure_head", no_ray)
    worker.warm_up().join(5)
    assert "no Ray for runs yet" in caplog.text and "no room" in caplog.text


def _damage(run: runs.Run, how: str) -> None:
    path = run.folder / "run.json"
    request = json.loads(path.read_text())
    if how == "not-json":
        path.write_text('{"config": {"lr"')
    elif how == "another-version":  # a setting this version does not have
        path.write_text(json.dumps({**request, "config": {**request["config"], "dropout": 0.1}}))
    elif how == "no-epochs":
        path.write_text(json.dumps({**request, "epochs": 0}))


@pytest.mark.parametrize("how", ["not-json", "another-version", "no-epochs"])
def test_a_run_folder_that_cannot_be_opened_is_one_line_in_the_log_and_a_notice_on_the_page(
        how, app_test, caplog):
    run = runs.create(training.runs_dir(), CFG.to_dict(), 1)
    _damage(run, how)
    with caplog.at_level("WARNING", logger="ui.worker"):
        assert worker.find(run.id) is None
    (record,) = [r for r in caplog.records if r.name == "ui.worker"]
    assert record.getMessage().startswith(f"run {run.id} cannot be opened: ") and "\n" not in record.getMessage()
    at = app_test("1_Train.py", query_params={"run": run.id})  # a link to it: no traceback
    assert at.warning[0].value.startswith("There is no run named") and "train_worker" not in at.session_state
