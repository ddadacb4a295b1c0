"""The training engine: learns, stops on request, resumes exactly, is deterministic, survives NaN."""
import math
import threading

import pytest
import torch

import dae_core.train as train_mod
from dae_core import checkpoint
from dae_core.device import resolve_device
from dae_core.errors import DaeError
from dae_core.train import BatchStats, EpochStats, Stopped, fit, new_state, prepare_data


def test_loss_falls_over_three_epochs(run3):
    _, epochs = run3
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[2].val_loss < epochs[0].val_loss
    assert epochs[2].train_loss < epochs[0].train_loss
    assert all(math.isfinite(e.val_loss) and e.seconds > 0 and e.images_per_s > 0 for e in epochs)


@pytest.fixture
def small_cfg(tiny_cfg):
    """100 images (80 train / 20 val) in batches of 16: for tests that only watch the events."""
    return tiny_cfg.replace(train_subset=100, batch_size=16)


def test_events_and_history(small_cfg):
    state = new_state(small_cfg)
    events = list(fit(state, prepare_data(small_cfg, state.device), epochs=1, report_every=2))
    batches = [e for e in events if isinstance(e, BatchStats)]
    n_batches = 5  # 80 training images in batches of 16
    assert [b.batch for b in batches] == [2, 4, 5]
    assert all(b.n_batches == n_batches and b.epoch == 1 for b in batches)
    assert isinstance(events[-1], EpochStats)
    assert state.history == [{k: v for k, v in vars(events[-1]).items() if v is not None}]
    assert "val_accuracy" not in state.history[0]  # an autoencoder has no accuracy to record


def test_stop_event_is_honoured(small_cfg):
    state = new_state(small_cfg)
    stop = threading.Event()
    events = []
    for event in fit(state, prepare_data(small_cfg, state.device), epochs=3, stop=stop, report_every=1):
        events.append(event)
        if isinstance(event, BatchStats):
            stop.set()
    assert [type(e) for e in events] == [BatchStats, Stopped]
    assert events[1].reason == "stopped" and events[1].epoch == 1
    assert state.history == []


def test_resume_equals_an_uninterrupted_run(tiny_cfg, ckpt_path, run3, helpers):
    ckpt = checkpoint.load(ckpt_path)
    assert len(ckpt.history) == 2
    state = checkpoint.to_state(ckpt)
    events = list(fit(state, prepare_data(tiny_cfg, state.device), epochs=1))
    assert [e.epoch for e in events if isinstance(e, EpochStats)] == [3]
    assert len(state.history) == 3
    straight_weights, straight_epochs = run3
    assert helpers.same_weights(helpers.weights(state.model), straight_weights)
    assert state.history[-1]["val_loss"] == straight_epochs[-1].val_loss


def test_same_config_gives_identical_weights(small_cfg, helpers):
    a, _ = helpers.train(small_cfg)
    b, _ = helpers.train(small_cfg)
    assert helpers.same_weights(helpers.weights(a.model), helpers.weights(b.model))
    other_seed = new_state(small_cfg.replace(seed=1))
    assert not helpers.same_weights(helpers.weights(a.model), helpers.weights(other_seed.model))


def test_nan_loss_stops_as_diverged_and_restores_weights(small_cfg, helpers, monkeypatch):
    state, _ = helpers.train(small_cfg)  # one good epoch
    after_epoch_1 = helpers.weights(state.model)
    real_add_noise = train_mod.add_noise
    monkeypatch.setattr(train_mod, "add_noise",
                        lambda x, *a, **k: real_add_noise(x, *a, **k) * float("nan"))
    events = list(fit(state, prepare_data(small_cfg, state.device), epochs=2))
    assert isinstance(events[-1], Stopped)
    assert events[-1].reason == "diverged" and events[-1].epoch == 2
    assert not any(isinstance(e, (EpochStats, BatchStats)) for e in events)
    now = helpers.weights(state.model)
    assert all(torch.isfinite(v).all() for v in now.values() if v.is_floating_point())
    assert helpers.same_weights(now, after_epoch_1)
    assert len(state.history) == 1


def test_huge_learning_rate_ends_diverged_with_finite_weights(tiny_cfg, helpers):
    state, events = helpers.train(tiny_cfg.replace(lr=10.0))
    assert isinstance(events[-1], Stopped) and events[-1].reason == "diverged"
    assert all(torch.isfinite(v).all() for v in state.model.state_dict().values()
               if v.is_floating_point())


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_onecycle_warms_up_then_anneals_below_its_start(small_cfg):
    cfg = small_cfg.replace(schedule="onecycle", lr=1e-2, epochs=4)  # 5 batches an epoch: 20 steps
    state = new_state(cfg)
    rates = []
    schedule = train_mod.Schedule(state.optimizer, cfg, steps_per_epoch=5)
    for _ in range(20):
        rates.append(schedule.lr)
        schedule.advance()
    peak = max(range(20), key=rates.__getitem__)
    assert 0 < peak < 19 and rates[peak] == pytest.approx(1e-2, rel=0.05)
    assert rates[0] == pytest.approx(1e-2 / 25) and rates[-1] < rates[0] / 100
    assert schedule.lr == pytest.approx(1e-2 / 25)  # past the cycle: back to its starting rate


def test_constant_schedule_never_changes_the_rate(small_cfg):
    state = new_state(small_cfg)
    schedule = train_mod.Schedule(state.optimizer, small_cfg, steps_per_epoch=5, step=7)
    schedule.advance(30)
    assert schedule.lr == small_cfg.lr


def test_a_resumed_onecycle_run_equals_an_uninterrupted_one(small_cfg, helpers):
    cfg = small_cfg.replace(schedule="onecycle", lr=5e-3, epochs=3)
    straight, _ = helpers.train(cfg)
    first, _ = helpers.train(cfg, epochs=1)
    resumed = checkpoint.to_state(checkpoint.from_payload(checkpoint.to_payload(first)))
    list(fit(resumed, prepare_data(cfg, resumed.device), epochs=2))
    assert helpers.same_weights(helpers.weights(resumed.model), helpers.weights(straight.model))
    assert resumed.history[-1]["val_loss"] == straight.history[-1]["val_loss"]


def test_unavailable_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DaeError, match="cuda"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
