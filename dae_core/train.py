"""The training engine, one loop for every model: a generator of small frozen stats; stoppable,
resumable, never prints. What a model learns is its Objective (Denoising for the autoencoder)."""
from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Iterator, Protocol, Union

import torch
import torch.nn.functional as F

from dae_core.config import TrainConfig
from dae_core.data import (
    add_noise,
    random_affine,
    reconstruction_mse,
    to_float,
    training_split,
)
from dae_core.device import place, resolve_device
from dae_core.errors import DaeError
from dae_core.graphed import StepGraph
from dae_core.model import DenoisingAutoencoder
from dae_core.optim import make_optimizer, schedule_at, set_schedule, update
from dae_core.state import TrainState


@dataclass(frozen=True)
class BatchStats:
    """Progress inside an epoch; `loss` is the mean train loss since the previous report."""

    epoch: int  # 1-based, counted over the whole history (a resumed run goes on from there)
    batch: int  # batches finished in this epoch
    n_batches: int
    loss: float
    seconds: float  # since the epoch started
    images_per_s: float


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch; this is what a checkpoint's history stores (as a dict)."""

    epoch: int
    train_loss: float
    val_loss: float
    seconds: float  # wall time of the epoch, validation included
    images_per_s: float  # training images per second
    val_accuracy: float | None = None  # classifiers only: share of validation images right


@dataclass(frozen=True)
class Stopped:
    """The run ended early: reason is 'stopped' (asked to) or 'diverged' (non-finite loss)."""

    reason: str
    message: str
    epoch: int


Event = Union[BatchStats, EpochStats, Stopped]


@dataclass
class TrainData:
    """Float32 images (N, 1, 28, 28) in [0, 1] on the training device, and labels when used."""

    x_train: torch.Tensor
    x_val: torch.Tensor
    y_train: torch.Tensor | None = None
    y_val: torch.Tensor | None = None


class Objective(Protocol):
    """What a model learns: the loss of one batch, and its scores on the validation data."""

    def loss(self, model, x: torch.Tensor, y: torch.Tensor | None, g: torch.Generator) -> torch.Tensor: ...

    def validate(self, model, data: TrainData) -> dict: ...


@dataclass(frozen=True)
class Denoising:
    """The autoencoder's objective: MSE of model(corrupted x) against the clean x."""

    noise: str
    strength: float
    augment: float = 0.0  # affine jitter of the clean images first (data.random_affine)
    val_seed: int = 0  # validation noise is drawn from it, so epochs are compared on the same inputs

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> "Denoising":
        return cls(cfg.noise, cfg.noise_strength, cfg.augment, cfg.seed)

    def inputs(self, x, y, g) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's random part: (corrupted x, clean x), both drawn from `g`."""
        if self.augment:
            x = random_affine(x, self.augment, g)
        return add_noise(x, self.noise, self.strength, g), x

    @staticmethod
    def loss_of(model, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """The step's deterministic part, what a CUDA graph captures."""
        return F.mse_loss(model(noisy), clean)

    def loss(self, model, x, y, g):
        return self.loss_of(model, *self.inputs(x, y, g))

    def validate(self, model, data: TrainData) -> dict:
        return {"val_loss": reconstruction_mse(model, data.x_val, self.noise, self.strength, self.val_seed)}


def new_state(cfg: TrainConfig) -> TrainState:
    """A fresh autoencoder whose initial weights depend only on cfg.seed."""
    device = resolve_device(cfg.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = DenoisingAutoencoder(cfg.latent_dim, cfg.width)
    model = place(model, device)
    return TrainState(cfg, model, make_optimizer(model, cfg, device), device)


def prepare_data(cfg: TrainConfig, device: torch.device) -> TrainData:
    """The config's train / validation split as float images, moved to the device once."""
    split = training_split(cfg)
    return TrainData(to_float(split.train_images).to(device), to_float(split.val_images).to(device))


def _all_finite(model: torch.nn.Module) -> bool:
    """True when every parameter and buffer (BatchNorm statistics included) is finite."""
    tensors = [t.flatten() for t in model.state_dict().values() if t.is_floating_point()]
    return bool(torch.isfinite(torch.cat(tensors)).all())  # three kernels, one wait


def _diverged(state: TrainState, snapshot, epoch: int, what: str) -> Stopped:
    """Put back the weights of the last finished epoch; the Stopped event that says so."""
    state.model.load_state_dict(snapshot[0])
    state.optimizer.load_state_dict(snapshot[1])
    return Stopped("diverged", f"training diverged in epoch {epoch} ({what}); weights restored to the "
                   f"end of epoch {epoch - 1}. Try a lower learning rate (now {state.config.lr}).", epoch)


def _moves_beta1(cfg) -> bool:
    return schedule_at(cfg, 0, 2)[1] is not None


def fastest_compile_mode(state: TrainState) -> str | None:
    """How `fit` trains this state fastest with no compiling: "cuda-graph" on a CUDA device where
    the schedule keeps Adam's betas (cosine, constant), else None (eager)."""
    return "cuda-graph" if state.device.type == "cuda" and not _moves_beta1(state.config) else None


def _step_graph(state: TrainState, objective):
    """The whole-step CUDA graph of compile_mode "cuda-graph"; it needs a CUDA device."""
    if state.device.type != "cuda":
        raise DaeError(f"compile mode 'cuda-graph' needs a CUDA GPU; this run is on {state.device.type}")
    if _moves_beta1(state.config):
        raise DaeError(f"compile mode 'cuda-graph' keeps Adam's betas fixed, and the {state.config.schedule} "
                       "schedule moves beta1: train it with reduce-overhead or eagerly")
    return StepGraph(state.model, state.optimizer, objective, state.device)


def fit(state: TrainState, data: TrainData, epochs: int | None = None,
        stop: threading.Event | None = None, report_every: int = 10,
        objective: Objective | None = None, compile_mode: str | None = None) -> Iterator[Event]:
    """Train `epochs` more epochs (default: the config's), yielding stats as they happen.

    `objective` defaults to the config's Denoising. Shuffling, noise and the learning rate are
    functions of (seed, epoch, step) alone, so resuming from a checkpoint gives the same weights
    as one uninterrupted run. Between batches `stop` is checked; a non-finite loss restores the
    weights of the last finished epoch and ends the run with a Stopped event. Batches are sliced
    on the device from data.x_train and the losses summed there: the host waits for the device
    once per report, never once per step. `compile_mode` (e.g. "reduce-overhead": CUDA graphs)
    trains through torch.compile(model); "cuda-graph" (CUDA only) captures the whole step of a full
    batch, update included, and replays it (graphed.StepGraph); validation and state.model stay eager.
    """
    cfg, model, opt = state.config, state.model, state.optimizer
    objective = objective or Denoising.from_config(cfg)
    graph = _step_graph(state, objective) if compile_mode == "cuda-graph" else None
    # The compiled module shares model's parameters; state.model stays the plain one to save.
    compiled = compile_mode not in (None, "cuda-graph")
    step_model = torch.compile(model, mode=compile_mode) if compiled else model
    n = len(data.x_train)
    n_batches = math.ceil(n / cfg.batch_size)
    first = state.epochs_done + 1
    total_steps = cfg.epochs * n_batches  # the plan: the schedule's curve spans it
    for epoch in range(first, first + (cfg.epochs if epochs is None else epochs)):
        snapshot = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()))
        g = torch.Generator(device=state.device).manual_seed(cfg.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g, device=state.device)
        model.train()
        t0 = time.perf_counter()
        epoch_sum = torch.zeros((), device=state.device)
        window_sum, window_n = torch.zeros((), device=state.device), 0
        stopped = False
        with graph.installed() if graph else contextlib.nullcontext():
            for b in range(n_batches):
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                idx = perm[b * cfg.batch_size: (b + 1) * cfg.batch_size]
                set_schedule(opt, cfg, (epoch - 1) * n_batches + b, total_steps)
                x, y = data.x_train[idx], None if data.y_train is None else data.y_train[idx]
                if graph is not None and len(idx) == cfg.batch_size:
                    loss = graph.step(x, y, g)
                else:
                    if compiled:  # a new CUDA-graph iteration: frees the last step's outputs
                        torch.compiler.cudagraph_mark_step_begin()
                    loss = update(opt, objective.loss(step_model, x, y, g))
                # Losses stay on the device; the host syncs once per report, not once per step.
                loss = loss * len(idx)  # update() and a replay return it detached
                epoch_sum += loss
                window_sum += loss
                window_n += len(idx)
                if (b + 1) % report_every == 0 or b + 1 == n_batches:
                    mean = window_sum.item() / window_n
                    if not math.isfinite(mean) or not _all_finite(model):
                        yield _diverged(state, snapshot, epoch, f"batch {b + 1}: loss {mean:.4g} or non-finite weights")
                        return
                    seconds = time.perf_counter() - t0
                    yield BatchStats(epoch, b + 1, n_batches, mean, seconds, min((b + 1) * cfg.batch_size, n) / seconds)
                    window_sum, window_n = torch.zeros((), device=state.device), 0
        if stopped:  # after the with: the optimizer holds plain floats again for a checkpoint
            yield Stopped("stopped", f"stopped by request during epoch {epoch}", epoch)
            return
        train_seconds = time.perf_counter() - t0
        scores = objective.validate(model, data)
        if not math.isfinite(scores["val_loss"]):
            yield _diverged(state, snapshot, epoch, f"validation loss {scores['val_loss']}")
            return
        stats = EpochStats(epoch, epoch_sum.item() / n, seconds=time.perf_counter() - t0,
                           images_per_s=n / train_seconds, **scores)
        state.history.append({k: v for k, v in asdict(stats).items() if v is not None})
        yield stats
