"""dae_core.serve: a run as a folder, trained by train_run, seen by training.state, bounded on disk."""
import json
import os
import threading
import time
from dataclasses import replace

import pytest

from dae_core import TrainConfig
from dae_core import checkpoint as ckpt_io
from dae_core.errors import DaeError
from dae_core.serve import disk, jobs, runs, training
from dae_core.serve.jobs import JobState
from dae_core.serve.trainer import train_run

TINY = TrainConfig(train_subset=300, epochs=2, batch_size=64, device="cpu")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    monkeypatch.setenv("DAE_RUNS_DIR", str(folder))
    return folder


def trained(runs_dir, cfg=TINY, epochs=None):
    run = runs.create(runs_dir, cfg.to_dict(), epochs or cfg.epochs)
    assert train_run(run.folder) == "finished"
    return run


def job_says(monkeypatch, status: str, message: str = ""):
    monkeypatch.setattr(jobs, "state", lambda job_id: JobState(status, message))


@pytest.mark.slow  # trains for seconds
def test_a_trained_run_leaves_its_epochs_batches_and_last_checkpoint_on_disk(runs_dir):
    run = trained(runs_dir)
    assert [h["epoch"] for h in run.history()] == [1, 2]
    batches, offset = run.batches()
    assert batches[-1].x == pytest.approx(2.0) and batches[-1].epoch == 2
    assert run.batches(offset) == ([], offset)  # read on from where the last read stopped
    assert ckpt_io.load(run.checkpoint_path).history == run.history()
    status = run.status()
    assert status["status"] == "finished" and status["message"] == "finished 2 epochs"
    assert not [p for p in run.folder.iterdir() if p.name.endswith(".tmp")]


def test_a_half_written_progress_line_is_read_once_it_is_whole(runs_dir):
    run = runs.create(runs_dir, TINY.to_dict(), 1)
    line = json.dumps({"x": 0.5, "loss": 0.1, "epoch": 1, "batch": 2, "n_batches": 4, "seconds": 1.0,
                       "images_per_s": 9.0})
    (run.folder / "batches.jsonl").write_text(line[:20])
    assert run.batches() == ([], 0)
    (run.folder / "batches.jsonl").write_text(line + "\n")
    assert [b.loss for b in run.batches()[0]] == [0.1]


def test_the_stop_file_ends_training_within_a_batch_and_says_what_was_kept(runs_dir):
    run = runs.create(runs_dir, replace(TINY, epochs=500).to_dict(), 500)
    thread = threading.Thread(target=train_run, args=(run.folder,))
    thread.start()
    deadline = time.monotonic() + 120
    while not run.history() and time.monotonic() < deadline:
        time.sleep(0.05)
    run.ask_stop()
    thread.join(60)
    assert not thread.is_alive()
    status = run.status()
    assert status["status"] == "stopped"
    kept = len(run.history())
    assert 1 <= kept < 500
    assert f"Kept the weights after epoch {kept}" in status["message"]
    assert status["message"].startswith("Stopped during epoch ")
    assert ckpt_io.load(run.checkpoint_path).history == run.history()


def test_a_stop_before_any_epoch_says_nothing_was_kept(runs_dir):
    run = runs.create(runs_dir, TINY.to_dict(), 2)
    run.ask_stop()
    assert train_run(run.folder) == "stopped"
    assert "kept no new weights" in run.status()["message"] and not run.has_checkpoint()


def test_a_bad_request_fails_the_run_with_one_line(runs_dir):
    run = runs.create(runs_dir, {**TINY.to_dict(), "lr": -1.0}, 1)
    assert train_run(run.folder) == "failed"
    message = run.status()["message"]
    assert "lr" in message.lower() and "\n" not in message


@pytest.mark.slow  # takes seconds
def test_continuing_goes_on_from_the_checkpoint_with_the_curve_carried_over(runs_dir, monkeypatch):
    first = trained(runs_dir, replace(TINY, epochs=1))
    monkeypatch.setattr(jobs, "submit", lambda *a, **k: JobState("queued"))
    more = training.start(first.config, 2, previous=first)
    assert more.id != first.id and more.first_epoch == 2
    assert more.batches()[0] == first.batches()[0]
    assert train_run(more.folder) == "finished"
    assert [h["epoch"] for h in more.history()] == [1, 2, 3]
    assert more.history()[0] == first.history()[0]


@pytest.mark.parametrize("disk_status, job, expected", [
    ("queued", JobState("queued", place=2, queued=3), "queued"),
    ("queued", JobState("running"), "starting"),
    ("queued", JobState("failed", "no such file"), "failed"),
    ("queued", JobState("cancelled"), "stopped"),
    ("queued", JobState("unknown"), "interrupted"),
    ("queued", JobState("unavailable", "refused"), "queued"),
    ("running", JobState("failed", "killed"), "interrupted"),
    ("running", JobState("unknown"), "interrupted"),
    ("running", JobState("running"), "running"),
    ("running", JobState("unavailable", "refused"), "running"),
])
def test_the_state_of_a_run_whose_trainer_went_quiet(runs_dir, monkeypatch, disk_status, job, expected):
    run = runs.create(runs_dir, TINY.to_dict(), 1)
    if disk_status != "queued":
        runs.RunWriter(run).set_status(disk_status)
        status = run.status()
        status["updated"] = time.time() - runs.STALE_S - 1  # its heartbeat stopped
        (run.folder / "status.json").write_text(json.dumps(status))
    job_says(monkeypatch, job.status, job.message)
    monkeypatch.setattr(jobs, "state", lambda job_id: job)
    state = training.state(run)
    assert state.status == expected
    if expected in runs.ENDED:  # recorded, so the next look needs no Ray
        assert run.status()["status"] == expected
    if job.status == "unavailable":
        assert "refused" in state.message


def test_a_fresh_heartbeat_needs_no_word_from_ray(runs_dir, monkeypatch):
    run = runs.create(runs_dir, TINY.to_dict(), 1)
    runs.RunWriter(run).set_status("running")

    def no_ray(job_id):
        raise AssertionError("asked Ray")

    monkeypatch.setattr(jobs, "state", no_ray)
    assert training.state(run).status == "running"


@pytest.mark.slow  # takes seconds
def test_run_ids_never_name_a_path(runs_dir):
    trained(runs_dir, replace(TINY, epochs=1))
    for bad in ("../../etc/passwd", "..", "", None, 42, "20261207-061502-3fa2c1/../x"):
        assert runs.find(runs_dir, bad) is None


@pytest.mark.slow  # takes seconds
def test_saving_links_the_checkpoint_and_refuses_a_taken_name(runs_dir):
    run = trained(runs_dir, replace(TINY, epochs=1))
    path = disk.save(run, "mine", runs_dir, 10**9)
    assert path == runs_dir / "mine.pt" and run.saved_as() == "mine"
    assert path.stat().st_ino == run.checkpoint_path.stat().st_ino
    with pytest.raises(DaeError, match="already exists"):
        disk.save(run, "mine", runs_dir, 10**9)
    with pytest.raises(DaeError, match="checkpoint name"):
        disk.save(run, "../out", runs_dir, 10**9)


@pytest.mark.slow  # trains for seconds
def test_past_the_bound_old_unsaved_runs_go_first_and_saved_or_running_ones_stay(runs_dir):
    old, saved, newer = (trained(runs_dir, replace(TINY, epochs=1, seed=s)) for s in range(3))
    time.sleep(1.1)  # ids sort by the second they were made
    running = runs.create(runs_dir, TINY.to_dict(), 1)
    runs.RunWriter(running).set_status("running")
    disk.save(saved, "keep", runs_dir, 10**9)
    one = old.size_bytes()
    gone = disk.prune(runs_dir, runs.disk_bytes(runs_dir) - one // 2)
    assert gone == [old.id]
    assert {r.id for r in runs.all_runs(runs_dir)} == {saved.id, newer.id, running.id}
    assert (runs_dir / "keep.pt").is_file()


@pytest.mark.slow  # trains for seconds
def test_save_is_refused_in_one_line_when_saved_runs_fill_the_folder(runs_dir):
    a, b = (trained(runs_dir, replace(TINY, epochs=1, seed=s)) for s in range(2))
    disk.save(a, "first", runs_dir, 10**9)
    with pytest.raises(DaeError, match=r"runs folder is full .*delete a saved run"):
        disk.save(b, "second", runs_dir, runs.disk_bytes(runs_dir) - 1)
    assert not (runs_dir / "second.pt").exists() and b.saved_as() is None
    assert runs.find(runs_dir, b.id) is not None  # unsaved, but the one being saved: kept


@pytest.mark.slow  # takes seconds
def test_deleting_a_saved_run_removes_its_file_and_its_folder(runs_dir):
    run = trained(runs_dir, replace(TINY, epochs=1))
    disk.save(run, "gone", runs_dir, 10**9)
    disk.delete_saved(runs_dir, "gone")
    assert not (runs_dir / "gone.pt").exists() and runs.find(runs_dir, run.id) is None
    with pytest.raises(DaeError, match="no saved run named"):
        disk.delete_saved(runs_dir, "gone")
    with pytest.raises(DaeError):
        disk.delete_saved(runs_dir, "../../etc/passwd")


def test_leftovers_of_a_save_cut_short_are_removed_at_start(runs_dir):
    runs_dir.mkdir(parents=True)
    (runs_dir / ".mine.pt.abc123.tmp").write_bytes(b"half")
    (runs_dir / "kept.pt").write_bytes(b"whole")
    assert training.check_runs_dir() is None
    assert sorted(p.name for p in runs_dir.iterdir()) == ["kept.pt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_runs_folder_that_cannot_be_written_is_one_line(runs_dir):
    runs_dir.mkdir(parents=True)
    runs_dir.chmod(0o500)
    try:
        problem = training.check_runs_dir()
    finally:
        runs_dir.chmod(0o700)
    assert problem is not None and "cannot be written" in problem and "\n" not in problem


def test_a_runs_folder_that_is_a_file_is_one_line(runs_dir):
    runs_dir.parent.mkdir(parents=True, exist_ok=True)
    runs_dir.write_text("not a folder")
    problem = training.check_runs_dir()
    assert problem is not None and "cannot be written" in problem and "\n" not in problem
    with pytest.raises(DaeError, match="cannot be written"):
        training.start(TINY.to_dict(), 1)


def test_a_job_whose_run_folder_is_gone_trains_nothing_and_writes_nothing(runs_dir):
    """A Start whose submit failed removes the folder; should the job have started all the same,
    it must not train unseen, nor make the folder again."""
    run = runs.create(runs_dir, TINY.to_dict(), 1)
    runs.remove(run)
    assert train_run(run.folder) == "failed"
    assert not run.folder.exists()


def test_run_ids_made_within_one_second_sort_by_when_they_were_made():
    ids = [runs.new_id() for _ in range(50)]
    assert all(runs.is_run_id(i) for i in ids) and len(set(ids)) == 50
    assert sorted(ids) == ids
