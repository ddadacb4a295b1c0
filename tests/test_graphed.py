"""The whole-step CUDA graph, checked on the CPU: a replay is stood in for by running the recorded
step again over the same static tensors, so what is checked is the bookkeeping around the graph
(warm-up steps, static inputs, the short last batch, the optimizer's tensors and flags)."""
import io
import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

import dae_core.graphed as graphed
import dae_core.train as train_mod
from dae_core import checkpoint as ckpt_io
from dae_core.cli import main
from dae_core.errors import DaeError
from dae_core.graphed import StepGraph
from dae_core.serve import runs, training
from dae_core.serve.trainer import train_run
from dae_core.optim import schedule_at, set_schedule
from dae_core.train import Denoising, fit, new_state, prepare_data


def _replayed_step_graph(replays: list, captures: list):
    """_step_graph's stand-in: a StepGraph on the CPU whose capture records the step and whose
    replay runs it again, writing the output into one tensor as a real replay does."""
    def capture(fn):
        out = torch.zeros(())
        captures.append(1)

        def replay():
            replays.append(1)
            out.copy_(fn().detach())
        return replay, out

    def make(state, objective):
        step_graph = StepGraph(state.model, state.optimizer, objective, state.device)
        step_graph.warm_up, step_graph.capture = (lambda fn: fn()), capture
        return step_graph
    return make


@pytest.mark.slow  # trains for seconds
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_replayed_steps_train_exactly_as_eager_steps(tiny_cfg, helpers, monkeypatch, schedule):
    cfg = replace(tiny_cfg, batch_size=48, epochs=2, schedule=schedule, augment=0.5)  # 240 = 5 x 48
    cfg = replace(cfg, train_subset=320)  # 256 train: 5 full batches of 48 and a short one of 16
    replays, captures = [], []
    monkeypatch.setattr(train_mod, "_step_graph", _replayed_step_graph(replays, captures))
    state = new_state(cfg)
    events = list(fit(state, prepare_data(cfg, state.device), compile_mode="cuda-graph"))
    eager, eager_events = helpers.train(cfg)
    assert helpers.same_weights(helpers.weights(state.model), helpers.weights(eager.model))
    ours = [e.train_loss for e in events if isinstance(e, train_mod.EpochStats)]
    assert ours == [e.train_loss for e in eager_events if isinstance(e, train_mod.EpochStats)]
    full = 2 * (256 // 48)
    assert captures == [1] and len(replays) == full - graphed.WARMUP_STEPS


def test_the_objectives_random_and_deterministic_parts_make_its_loss(tiny_cfg):
    objective = Denoising.from_config(replace(tiny_cfg, augment=0.5))
    model = new_state(tiny_cfg).model
    x = torch.rand(8, 1, 28, 28)
    whole = objective.loss(model, x, None, torch.Generator().manual_seed(3))
    parts = objective.loss_of(model, *objective.inputs(x, None, torch.Generator().manual_seed(3)))
    assert torch.equal(whole, parts)


def test_the_graphs_optimizer_reads_the_rate_from_a_tensor_and_saves_a_float(tiny_cfg):
    cfg = replace(tiny_cfg, schedule="cosine", lr=1e-2)
    state = new_state(cfg)
    step_graph = StepGraph(state.model, state.optimizer, Denoising.from_config(cfg), state.device)
    step_graph.real = True  # install the tensor as on CUDA (no step is taken here)
    group = state.optimizer.param_groups[0]
    with step_graph.installed():
        rate = group["lr"]
        set_schedule(state.optimizer, cfg, 7, 100)
        assert group["lr"] is rate and rate.item() == pytest.approx(schedule_at(cfg, 7, 100)[0])
        assert group["capturable"]
    assert type(group["lr"]) is float and group["lr"] == pytest.approx(schedule_at(cfg, 7, 100)[0])
    assert not group["capturable"]
    buffer = io.BytesIO()
    torch.save(state.optimizer.state_dict(), buffer)  # what a checkpoint stores: no device tensor
    assert type(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)["param_groups"][0]["lr"]) is float


def test_a_schedule_that_moves_beta1_is_refused_as_a_graph(tiny_cfg):
    state = new_state(replace(tiny_cfg, schedule="onecycle"))
    state.device = torch.device("cuda")  # the check of the device comes first; pass it
    with pytest.raises(DaeError, match="moves beta1"):
        train_mod._step_graph(state, Denoising.from_config(state.config))


def test_cuda_graph_mode_off_cuda_is_refused_in_one_line(tiny_cfg):
    state = new_state(tiny_cfg)
    with pytest.raises(DaeError, match="needs a CUDA GPU"):
        next(fit(state, prepare_data(tiny_cfg, state.device), compile_mode="cuda-graph"))


def test_an_objective_without_a_split_step_cannot_be_graphed(tiny_cfg):
    state = new_state(tiny_cfg)

    class Whole:
        def loss(self, model, x, y, g):
            return model(x).mean()
    with pytest.raises(DaeError, match="cannot train as a CUDA graph"):
        StepGraph(state.model, state.optimizer, Whole(), state.device)


def _drift(a: dict, b: dict) -> float:
    """|a - b| / |b| over every floating-point weight and buffer together."""
    keys = [k for k in b if b[k].is_floating_point()]
    diff = torch.cat([(a[k] - b[k]).flatten() for k in keys])
    return float(diff.norm() / torch.cat([b[k].flatten() for k in keys]).norm())


@pytest.fixture
def gpu_cfg(tiny_cfg, monkeypatch):
    """A cosine-rate run on the GPU with cuDNN's deterministic kernels, so that a graph's run and
    an eager one do the same sums."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    return replace(tiny_cfg, train_subset=3200, batch_size=64, epochs=3, schedule="cosine", lr=3e-3,
                   device="cuda")


def test_on_a_gpu_the_replayed_graph_trains_as_the_eager_run(gpu_cfg, helpers, monkeypatch):
    """Real capture and replay: the weights match an eager run's, the cosine rate included (a
    graph that kept the first rate drifts by about 0.3)."""
    cfg = gpu_cfg
    made = []
    real = train_mod._step_graph
    monkeypatch.setattr(train_mod, "_step_graph", lambda *a: made.append(real(*a)) or made[-1])
    state = new_state(cfg)
    list(fit(state, prepare_data(cfg, state.device), compile_mode="cuda-graph"))
    eager, _ = helpers.train(cfg)
    assert made and made[0]._replay is not None
    drift = _drift(helpers.weights(state.model), helpers.weights(eager.model))
    assert drift < 1e-4, drift
    assert type(state.optimizer.param_groups[0]["lr"]) is float


def test_the_fastest_mode_is_the_graph_on_a_gpu_where_the_schedule_keeps_adams_betas(tiny_cfg):
    on = lambda device, schedule: train_mod.fastest_compile_mode(  # noqa: E731
        SimpleNamespace(device=torch.device(device), config=replace(tiny_cfg, schedule=schedule)))
    assert on("cuda", "cosine") == on("cuda", "constant") == "cuda-graph"
    assert on("cuda", "onecycle") is None  # it moves beta1: eager
    assert on("cpu", "cosine") is None


def _modes_fit_is_given(monkeypatch) -> list:
    """Record the compile_mode each fit call gets; fastest_compile_mode answers a marker."""
    modes, real_fit = [], train_mod.fit

    def recorded(*args, compile_mode=None, **kwargs):
        modes.append(compile_mode)
        return real_fit(*args, **kwargs)
    monkeypatch.setattr(train_mod, "fit", recorded)
    monkeypatch.setattr(train_mod, "fastest_compile_mode", lambda state: "the fastest")
    return modes


def _trained(config, epochs: int, previous: runs.Run | None = None) -> runs.Run:
    """A run folder of `epochs` (more of `previous`) trained here by a run job's body, to its end."""
    if previous is None:
        run = runs.create(training.runs_dir(), config.to_dict(), epochs)
    else:
        run = runs.create(training.runs_dir(), config.to_dict(), epochs, previous.history(),
                          previous.checkpoint_path, previous)
    status = train_run(run.folder)
    assert status == "finished", run.status().get("message")
    return run


@pytest.mark.slow  # trains for seconds
def test_the_apps_runs_and_the_cli_train_in_the_fastest_mode(tiny_cfg, monkeypatch, tmp_path):
    modes = _modes_fit_is_given(monkeypatch)
    _trained(replace(tiny_cfg, epochs=1), 1)
    assert modes == ["the fastest"]
    main(["train", "--epochs", "1", "--train-subset", "300", "--batch-size", "64",
          "--out", str(tmp_path / "m.pt")])
    assert modes == ["the fastest", "the fastest"]


def test_on_a_gpu_an_apps_run_replays_the_graph_resumes_exactly_and_shares_the_gpu(gpu_cfg, helpers,
                                                                                  monkeypatch):
    """A run as the app trains one (a run folder, trained by train_run), on the GPU, while another
    thread keeps the GPU busy: it trains through the graph, and one epoch then two more from its
    checkpoint give the weights of three epochs in one go, and of an eager run."""
    cfg = gpu_cfg
    replays, real_step = [], StepGraph.step
    monkeypatch.setattr(StepGraph, "step", lambda self, *a: replays.append(1) or real_step(self, *a))
    done, busy, failed = threading.Event(), [], []

    def other_work():  # another session's work on the same GPU, during the capture too
        a = torch.randn(512, 512, device="cuda")
        try:
            while not done.is_set():
                busy.append(float((a @ a).sum()))
        except RuntimeError as e:
            failed.append(e)
    other = threading.Thread(target=other_work, daemon=True)
    other.start()
    try:
        whole = _trained(cfg, 3)
        first = _trained(cfg, 1)
        rest = _trained(cfg, 2, previous=first)
    finally:
        done.set()
        other.join()
    assert len(replays) > 100 and busy and not failed, failed
    eager, _ = helpers.train(cfg)
    expected = helpers.weights(eager.model)
    for run in (whole, rest):
        assert [h["epoch"] for h in run.history()] == [1, 2, 3]
        assert _drift(helpers.weights(ckpt_io.load(run.checkpoint_path).model), expected) < 1e-4
