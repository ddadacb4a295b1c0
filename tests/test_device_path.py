"""The engine's device path, checked on the CPU: batches sliced from device-resident data are a plain
loop's batches, the host waits once per report (not per step), and the GPU benchmark's paths run."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import dae_core.train as train_mod
from dae_core import optim
from dae_core.data import add_noise
from dae_core.refine import refine
from dae_core.refit import refit_decoder
from dae_core.train import BatchStats, fit, new_state, prepare_data

ROOT = Path(__file__).resolve().parents[1]
SYNCS = ("item", "__bool__", "__float__", "__int__", "tolist")  # each waits for the device


def _plain_loop_losses(cfg, epochs: int) -> tuple[list[float], dict]:
    """The usual PyTorch loop over CPU tensors: each step's loss read at once (.item())."""
    state = new_state(cfg)
    x = prepare_data(cfg, torch.device("cpu")).x_train
    n_batches = -(-len(x) // cfg.batch_size)
    losses = []
    for epoch in range(1, epochs + 1):
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(x), generator=g)
        for b in range(n_batches):
            xb = x[order[b * cfg.batch_size: (b + 1) * cfg.batch_size]]
            optim.set_schedule(state.optimizer, cfg, (epoch - 1) * n_batches + b, cfg.epochs * n_batches)
            loss = F.mse_loss(state.model(add_noise(xb, cfg.noise, cfg.noise_strength, g)), xb)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            state.optimizer.step()
            losses.append(loss.item())
    return losses, state.model.state_dict()


@pytest.mark.slow  # trains for seconds
def test_device_resident_batches_give_the_plain_loops_losses_and_weights(tiny_cfg, helpers):
    cfg = replace(tiny_cfg, schedule="onecycle", lr=5e-3, epochs=2, batch_size=48)  # 5 steps an epoch
    expected, expected_weights = _plain_loop_losses(cfg, 2)
    state = new_state(cfg)
    events = list(fit(state, prepare_data(cfg, state.device), report_every=1))
    losses = [e.loss for e in events if isinstance(e, BatchStats)]
    assert losses == pytest.approx(expected, rel=1e-6)
    assert helpers.same_weights(helpers.weights(state.model), dict(expected_weights))


@pytest.fixture
def count_syncs(monkeypatch):
    """A dict whose 'n' counts every call that makes the host wait for a tensor's value."""
    calls = {"n": 0}
    for name in SYNCS:
        real = getattr(torch.Tensor, name)

        def counted(self, *args, _real=real, **kwargs):
            calls["n"] += 1
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return calls


def _syncs_of_one_epoch(cfg, calls) -> int:
    state = new_state(cfg)
    data = prepare_data(cfg, state.device)
    calls["n"] = 0
    list(fit(state, data, epochs=1, report_every=10_000))  # one report: the epoch's end
    return calls["n"]


@pytest.mark.slow  # trains for seconds
def test_the_host_waits_per_report_not_per_step(tiny_cfg, count_syncs):
    few = _syncs_of_one_epoch(replace(tiny_cfg, batch_size=120), count_syncs)  # 2 steps
    many = _syncs_of_one_epoch(replace(tiny_cfg, batch_size=8), count_syncs)  # 30 steps
    assert 0 < few == many


@pytest.mark.slow  # trains for seconds
def test_a_per_step_item_would_be_counted(tiny_cfg, count_syncs, monkeypatch):
    """The counter sees a host sync hidden in a step (what the test above guards against)."""
    real_loss = train_mod.Denoising.loss

    def loss_read_every_step(self, *args):
        loss = real_loss(self, *args)
        loss.item()
        return loss
    monkeypatch.setattr(train_mod.Denoising, "loss", loss_read_every_step)
    few = _syncs_of_one_epoch(replace(tiny_cfg, batch_size=120), count_syncs)
    many = _syncs_of_one_epoch(replace(tiny_cfg, batch_size=8), count_syncs)
    assert many - few == 28


def test_compile_off_is_the_eager_model(tiny_cfg, helpers, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("compiled with compile_mode=None"))
    state, _ = helpers.train(tiny_cfg)
    assert len(state.history) == 1


@pytest.mark.slow  # takes seconds
def test_compile_on_trains_through_the_compiled_module_and_keeps_the_eager_one(tiny_cfg, helpers, monkeypatch):
    """torch.compile is stubbed (a real compile takes minutes on two cores): fit hands it the model
    and the mode, steps through what it returns, and saves the plain module's weights."""
    calls, marks = [], []

    def fake_compile(model, mode=None):
        calls.append(mode)
        return lambda x: (calls.append("step"), model(x))[1]
    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    state = new_state(tiny_cfg)
    list(fit(state, prepare_data(tiny_cfg, state.device), compile_mode="reduce-overhead"))
    steps = -(-240 // tiny_cfg.batch_size)  # 240 training images
    assert calls == ["reduce-overhead"] + ["step"] * steps and len(marks) == steps
    assert not any(k.startswith("_orig_mod") for k in state.model.state_dict())
    plain, _ = helpers.train(tiny_cfg)
    assert helpers.same_weights(helpers.weights(state.model), helpers.weights(plain.model))


def _bench_gpu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "benchmarks/bench_gpu.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # starts another Python process
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_bench_gpu_without_cuda_says_so_in_one_line_and_exits_0():
    done = _bench_gpu()
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.count("\n") == 1 and "no CUDA GPU" in done.stdout


@pytest.mark.slow  # starts another Python process
def test_bench_gpu_runs_the_same_path_on_the_cpu():
    done = _bench_gpu("--device", "cpu", "--epochs", "1", "--compile", "off", "cuda-graph")
    assert done.returncode == 0, done.stderr[-2000:]
    engine, graph, reference, summary = map(json.loads, done.stdout.splitlines())
    assert engine["compile"] == "off" and len(engine["epoch_s"]) == len(reference["epoch_s"]) == 1
    assert all(0 < v < 1 for v in engine["val_mse"] + reference["val_mse"])
    assert "needs a CUDA GPU" in graph["error"]  # a mode this machine cannot run is one line
    assert summary["subset"] > 0 and list(summary["ratio"]) == ["off"] and summary["ratio"]["off"] > 0


def _syncs_of_one_refit_or_refine_epoch(tiny_cfg, batch_size, calls, which) -> int:
    cfg = replace(tiny_cfg, batch_size=batch_size)
    state = new_state(cfg)
    data = prepare_data(cfg, state.device)
    calls["n"] = 0
    if which == "refit":
        list(refit_decoder(state, data, epochs=1))
    else:
        list(refine(state, data, k=3, rounds=1, epochs=1, methods=("kmeans",), threshold=0.0,
                    agreement=0.0, augment=0.2))
    return calls["n"]


@pytest.mark.slow  # trains for seconds
@pytest.mark.parametrize("which", ["refit", "refine"])
def test_refit_and_refine_wait_per_epoch_not_per_step(tiny_cfg, count_syncs, which):
    few = _syncs_of_one_refit_or_refine_epoch(tiny_cfg, 120, count_syncs, which)  # 2 steps
    many = _syncs_of_one_refit_or_refine_epoch(tiny_cfg, 8, count_syncs, which)  # 30 steps
    assert 0 < few == many
