"""dae_core.runs.TrainingRun in a thread: finish, stop within a batch, poll increments, resume, failure."""
import dataclasses
import threading

import pytest
import torch

from dae_core import TrainConfig
from dae_core import checkpoint as ckpt_io
from dae_core.runs import RunRequest, TrainingRun

TINY = TrainConfig(train_subset=300, epochs=2, batch_size=64)  # 240 train / 60 val images


def request(cfg: TrainConfig = TINY, **kwargs) -> RunRequest:
    return RunRequest(cfg.to_dict(), kwargs.pop("epochs", cfg.epochs), **kwargs)


def in_thread(run: TrainingRun) -> threading.Thread:
    thread = threading.Thread(target=run.train, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def finished() -> TrainingRun:
    run = TrainingRun(request())
    assert run.train() == "finished"
    return run


def test_runs_to_finished_with_one_history_entry_per_epoch(finished):
    p = finished.poll()
    assert p.status == "finished" and p.message == "finished 2 epochs"
    assert [h["epoch"] for h in p.history] == [1, 2]
    assert p.batches and p.batches[-1][0] == pytest.approx(2.0)  # fractional epoch
    assert p.last_batch.epoch == 2


def test_poll_sends_only_what_the_caller_has_not_seen(finished):
    everything = finished.poll()
    later = finished.poll(batches_seen=len(everything.batches) - 1, epoch_seen=2)
    assert later.batches == everything.batches[-1:]
    assert later.payload is None  # no epoch after the caller's
    assert finished.poll(epoch_seen=1).payload["history"] == everything.history


def test_the_payload_is_a_copy_that_training_does_not_change():
    run = TrainingRun(request(epochs=1))
    run.train()
    payload = run.poll().payload
    before = {k: v.clone() for k, v in payload["model"].items()}
    with torch.no_grad():
        for p in run.state.model.parameters():
            p.add_(1.0)
    assert all(torch.equal(before[k], payload["model"][k]) for k in before)


def test_stop_is_honoured_within_a_batch():
    run = TrainingRun(request(dataclasses.replace(TINY, epochs=500)))
    thread = in_thread(run)
    while not run.poll().history:
        thread.join(0.05)
    run.stop()
    thread.join(30)
    p = run.poll()
    assert not thread.is_alive()
    assert p.status == "stopped" and "stopped" in p.message
    assert 1 <= len(p.history) < 500
    # every batch report belongs to a finished epoch or to the one the stop interrupted
    assert max(x for x, _ in p.batches) <= len(p.history) + 1


def test_stop_before_the_first_batch_trains_nothing():
    run = TrainingRun(request())
    run.stop()
    assert run.train() == "stopped"
    p = run.poll()
    assert p.history == [] and p.batches == [] and p.payload is None


def test_a_resumed_run_goes_on_from_the_payload(finished):
    payload = finished.poll().payload
    more = TrainingRun(request(epochs=1, resume=payload))
    assert more.poll().payload is not None  # the resumed epochs can be saved before any new one
    assert more.train() == "finished"
    history = more.poll().history
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[:2] == finished.poll().history
    ck = ckpt_io.from_payload(more.poll().payload)
    assert ck.config == TINY and len(ck.history) == 3


@pytest.mark.parametrize("target, error, message", [
    ("dae_core.train.prepare_data", "DataError", "MNIST is not in data/ and cannot be downloaded"),
    ("dae_core.train.fit", "RuntimeError", "RuntimeError: CUDA error: device-side assert"),
])
def test_a_failure_in_training_is_a_failed_status_with_its_message(monkeypatch, target, error, message):
    """A DaeError keeps its own words; anything else is named by its type. Never an exception."""
    from dae_core.data import DataError

    kind = {"DataError": DataError, "RuntimeError": RuntimeError}[error]

    def broken(*args, **kwargs):
        raise kind(message.removeprefix("RuntimeError: "))

    monkeypatch.setattr(target, broken)
    run = TrainingRun(request())
    assert run.train() == "failed"
    assert run.poll().message == message


def test_two_saves_that_both_found_a_name_free_one_wins_the_other_is_told(helpers, tmp_path, monkeypatch):
    """Two tabs save under one new name at once: both pass the name check before either writes."""
    from dae_core.errors import DaeError

    first, second = (helpers.ended_run(dataclasses.replace(TINY, epochs=1, seed=s)) for s in (0, 1))
    monkeypatch.setattr("dae_core.jobs.safe_path", lambda name, directory: directory / f"{name}.pt")
    runs = tmp_path / "runs"
    first.save("same", runs)
    with pytest.raises(DaeError, match="already exists"):
        second.save("same", runs)
    assert ckpt_io.load(runs / "same.pt").history == first.history
    assert second.saved_path is None and [p.name for p in runs.iterdir()] == ["same.pt"]


def test_a_poll_as_an_epoch_ends_gets_its_history_and_weights_together(monkeypatch):
    """The engine adds an epoch to its history before the run copies that epoch's checkpoint:
    a poll in between must not pair N+1 epochs of history with epoch N's weights."""
    import dae_core.train as engine

    polls, fit = [], engine.fit

    def fit_polled_at_each_epoch_end(state, *args, **kwargs):
        for event in fit(state, *args, **kwargs):
            if isinstance(event, engine.EpochStats):  # the history has it, the run not yet
                polls.append(run.poll())
            yield event

    monkeypatch.setattr(engine, "fit", fit_polled_at_each_epoch_end)
    run = TrainingRun(request(epochs=3))
    assert run.train() == "finished" and len(polls) == 3
    for p in polls + [run.poll()]:
        weights_epoch = len(p.payload["history"]) if p.payload else 0
        assert len(p.history) == weights_epoch
    assert run.poll().history == run.poll().payload["history"]


def test_a_request_this_process_cannot_build_fails_the_run_with_its_reason():
    """A config field this version does not know (an app server newer than its workers, say)."""
    run = TrainingRun(RunRequest({**TINY.to_dict(), "field_from_elsewhere": 1}, 1))
    assert run.train() == "failed"
    progress = run.poll()
    assert progress.status == "failed" and "field_from_elsewhere" in progress.message
    assert progress.history == [] and progress.payload is None
