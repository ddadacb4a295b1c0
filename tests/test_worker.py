"""ui.worker.TrainingWorker on a tiny run: finish, stop, save (safe names), continue, preview."""
import pytest
import torch

from dae_core import TrainConfig
from dae_core import checkpoint as ckpt_io
from dae_core.errors import DaeError
from ui.worker import TrainingWorker

TINY = TrainConfig(train_subset=300, epochs=2, batch_size=64)  # 240 train / 60 val images


def run(worker: TrainingWorker, timeout: float = 60) -> TrainingWorker:
    worker.start()
    worker.join(timeout)
    assert not worker.running, "the run did not end in time"
    return worker


@pytest.fixture(scope="module")
def finished() -> TrainingWorker:
    return run(TrainingWorker.fresh(TINY))


def test_runs_to_finished_with_one_history_entry_per_epoch(finished):
    snap = finished.snapshot()
    assert snap.status == "finished", snap.message
    assert [h["epoch"] for h in snap.history] == [1, 2]
    assert all(h["val_loss"] > 0 for h in snap.history)
    assert snap.batches and snap.batches[-1][0] == pytest.approx(2.0)  # fractional epoch
    assert snap.last_batch.epoch == 2


def test_stop_is_honoured_within_a_batch():
    worker = TrainingWorker.fresh(TINY.replace(epochs=500))
    worker.start()
    assert worker.epoch_done.wait(60)
    worker.stop()
    worker.join(30)
    snap = worker.snapshot()
    assert not worker.running
    assert snap.status == "stopped" and "stopped" in snap.message
    assert 1 <= len(snap.history) < 500
    # every batch report belongs to a finished epoch or to the one the stop interrupted
    assert max(x for x, _ in snap.batches) <= len(snap.history) + 1


def test_stop_before_the_first_batch_trains_nothing():
    worker = TrainingWorker.fresh(TINY)
    worker.stop()
    snap = run(worker).snapshot()
    assert snap.status == "stopped" and snap.history == [] and snap.batches == []


def test_save_writes_a_loadable_checkpoint(finished, tmp_path):
    path = finished.save("tiny-run", tmp_path)
    assert path == str(tmp_path / "tiny-run.pt") == finished.snapshot().saved_path
    ck = ckpt_io.load(path)
    assert ck.config == TINY
    assert ck.history == finished.state.history
    assert ck.metrics["val_mse"] == pytest.approx(finished.state.history[-1]["val_loss"])
    x = torch.rand(3, 1, 28, 28)
    finished.state.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(ck.model(x), finished.state.model(x))


@pytest.mark.parametrize("name", ["../x", "a/b", "/tmp/x", "", ".hidden", "x" * 65])
def test_save_refuses_unsafe_names_and_writes_nothing(finished, tmp_path, name):
    runs = tmp_path / "runs"
    runs.mkdir()
    with pytest.raises(DaeError):
        finished.save(name, runs)
    assert list(tmp_path.rglob("*")) == [runs]


def test_save_refuses_an_existing_name(finished, tmp_path):
    finished.save("same", tmp_path)
    before = (tmp_path / "same.pt").read_bytes()
    with pytest.raises(DaeError, match="already exists"):
        finished.save("same", tmp_path)
    assert (tmp_path / "same.pt").read_bytes() == before


def test_save_refuses_while_running(tmp_path):
    worker = TrainingWorker.fresh(TINY.replace(epochs=500))
    worker.start()
    try:
        with pytest.raises(DaeError, match="stop the run"):
            worker.save("busy", tmp_path)
    finally:
        worker.stop()
        worker.join(30)
    assert not (tmp_path / "busy.pt").exists()


def test_continue_over_the_same_state_appends_to_history():
    first = run(TrainingWorker.fresh(TINY))
    before = first.snapshot().history
    more = run(TrainingWorker(first.state, 1))
    snap = more.snapshot()
    assert snap.status == "finished", snap.message
    assert more.first_epoch == 3
    assert [h["epoch"] for h in snap.history] == [1, 2, 3]
    assert snap.history[:2] == before


def test_snapshot_model_is_a_frozen_copy(finished):
    snap = finished.snapshot()
    live = finished.state.model
    assert snap.model is not None and snap.model is not live
    assert not snap.model.training and snap.model_epoch == 2
    assert not any(p.requires_grad for p in snap.model.parameters())
    for a, b in zip(snap.model.state_dict().values(), live.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_a_fresh_worker_has_no_preview_model_but_a_continued_one_has():
    assert TrainingWorker.fresh(TINY).snapshot().model is None
    state = run(TrainingWorker.fresh(TINY.replace(epochs=1))).state
    continued = TrainingWorker(state, 1).snapshot()
    assert continued.model is not None and continued.model_epoch == 1


def test_an_unloadable_dataset_ends_as_failed_with_a_message(monkeypatch):
    from dae_core.data import DataError

    def no_data(*args, **kwargs):
        raise DataError("fashion_mnist is not in data/ and cannot be downloaded")

    monkeypatch.setattr("ui.worker.prepare_data", no_data)
    snap = run(TrainingWorker.fresh(TINY)).snapshot()
    assert snap.status == "failed" and "cannot be downloaded" in snap.message


def test_a_run_whose_session_closed_stops_after_the_grace_period():
    from dae_core import TrainConfig
    from ui.worker import TrainingWorker

    worker = TrainingWorker.fresh(TrainConfig(train_subset=2000, epochs=50, batch_size=32, device="cpu"))
    worker.alive, worker.orphan_grace_s = (lambda: False), 0.0
    worker.start()
    worker.join(60)
    assert worker.snapshot().status == "stopped"
    assert len(worker.state.history) < 50
