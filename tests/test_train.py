"""The training engine: learns, stops on request, resumes exactly, is deterministic, survives NaN."""
import math
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

import dae_core.train as train_mod
from dae_core import checkpoint, optim
from dae_core.device import resolve_device
from dae_core.errors import DaeError
from dae_core.train import BatchStats, EpochStats, Stopped, fit, new_state, prepare_data


@pytest.mark.slow  # a three-epoch run
def test_loss_falls_over_three_epochs(run3):
    _, epochs = run3
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[2].val_loss < epochs[0].val_loss
    assert epochs[2].train_loss < epochs[0].train_loss
    assert all(math.isfinite(e.val_loss) and e.seconds > 0 and e.images_per_s > 0 for e in epochs)


@pytest.fixture
def small_cfg(tiny_cfg):
    """100 images (80 train / 20 val) in batches of 16: for tests that only watch the events."""
    return replace(tiny_cfg, train_subset=100, batch_size=16)


@pytest.mark.slow  # takes seconds
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


@pytest.mark.slow  # a three-epoch run
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


@pytest.mark.slow  # takes seconds
def test_same_config_gives_identical_weights(small_cfg, helpers):
    a, _ = helpers.train(small_cfg)
    b, _ = helpers.train(small_cfg)
    assert helpers.same_weights(helpers.weights(a.model), helpers.weights(b.model))
    other_seed = new_state(replace(small_cfg, seed=1))
    assert not helpers.same_weights(helpers.weights(a.model), helpers.weights(other_seed.model))


@pytest.mark.slow  # takes seconds
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


@pytest.mark.slow  # takes seconds
def test_huge_learning_rate_ends_diverged_with_finite_weights(tiny_cfg, helpers):
    state, events = helpers.train(replace(tiny_cfg, lr=10.0))
    assert isinstance(events[-1], Stopped) and events[-1].reason == "diverged"
    assert all(torch.isfinite(v).all() for v in state.model.state_dict().values()
               if v.is_floating_point())


SCHEDULES = ["constant", "onecycle", "cosine"]


def _pytorch_rates(cfg, total: int) -> list[tuple[float, float]]:
    """(lr, beta1) of each step under PyTorch's own scheduler for the schedule: the reference curve."""
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    lr_scheduler = torch.optim.lr_scheduler
    scheduler = {"onecycle": lambda: lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=total),
                 "cosine": lambda: lr_scheduler.CosineAnnealingLR(opt, total),
                 "constant": lambda: None}[cfg.schedule]()
    rates = []
    for step in range(total):
        rates.append((opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]))
        opt.step()
        if scheduler is not None and step < total - 1:
            scheduler.step()
    return rates


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("total", [1, 3, 20, 97])
def test_schedule_is_pytorchs_curve_in_closed_form(small_cfg, schedule, total):
    cfg = replace(small_cfg, schedule=schedule, lr=1e-2)
    ours = [optim.schedule_at(cfg, step, total) for step in range(total)]
    ours = [(lr, 0.9 if beta1 is None else beta1) for lr, beta1 in ours]  # None: Adam's own beta1
    np.testing.assert_allclose(ours, _pytorch_rates(cfg, total), rtol=1e-12, atol=1e-15)


@pytest.fixture
def recorded_rates():
    """record(state) -> a list that gets (lr, beta1) of every optimizer step the state takes."""
    def record(state):
        rates = []
        state.optimizer.register_step_pre_hook(
            lambda opt, args, kwargs: rates.append((opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0])))
        return rates
    return record


def _scheduled(cfg, steps, total: int) -> list[tuple[float, float]]:
    return [(lr, 0.9 if beta1 is None else beta1)
            for lr, beta1 in (optim.schedule_at(cfg, s, total) for s in steps)]


@pytest.mark.slow  # trains for seconds
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_resumed_and_continued_runs_follow_the_schedule(small_cfg, helpers, recorded_rates, schedule):
    """Every step trains at the schedule's rate; a run resumed from a checkpoint after epoch 1
    takes exactly the rates and weights of the unbroken run; past the plan the rate stays final."""
    cfg = replace(small_cfg, schedule=schedule, lr=5e-3, epochs=2)  # 5 batches an epoch: 10 steps
    straight = train_mod.new_state(cfg)
    straight_rates = recorded_rates(straight)
    helpers.train(cfg, state=straight)
    assert straight_rates == _scheduled(cfg, range(10), 10)

    first, _ = helpers.train(cfg, epochs=1)
    resumed = checkpoint.to_state(checkpoint.from_payload(checkpoint.to_payload(first)))
    resumed_rates = recorded_rates(resumed)
    helpers.train(cfg, epochs=1, state=resumed)
    assert resumed_rates == straight_rates[5:]
    assert helpers.same_weights(helpers.weights(resumed.model), helpers.weights(straight.model))
    assert resumed.history[-1]["val_loss"] == straight.history[-1]["val_loss"]

    continued = checkpoint.to_state(checkpoint.from_payload(checkpoint.to_payload(straight)))
    continued_rates = recorded_rates(continued)
    helpers.train(cfg, epochs=1, state=continued)  # 5 steps past the 10 planned
    assert continued_rates == [straight_rates[-1]] * 5
    assert continued_rates[0][0] <= min(lr for lr, _ in straight_rates)  # never back up to the peak
    assert [e["epoch"] for e in continued.history] == [1, 2, 3]


def test_onecycle_warms_up_then_anneals_below_its_start(small_cfg):
    cfg = replace(small_cfg, schedule="onecycle", lr=1e-2)
    rates = [optim.schedule_at(cfg, step, 20)[0] for step in range(20)]
    peak = max(range(20), key=rates.__getitem__)
    assert 0 < peak < 19 and rates[peak] == pytest.approx(1e-2, rel=0.05)
    assert rates[0] == pytest.approx(1e-2 / 25) and rates[-1] < rates[0] / 100


def test_unavailable_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DaeError, match="cuda"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
