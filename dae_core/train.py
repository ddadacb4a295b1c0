"""The training engine: a generator of small frozen stats; stoppable, resumable, never prints."""
from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator, Union

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .data import add_noise, load_digits, random_affine, split_indices, to_float
from .model import DenoisingAutoencoder


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


@dataclass(frozen=True)
class Stopped:
    """The run ended early: reason is 'stopped' (asked to) or 'diverged' (non-finite loss)."""

    reason: str
    message: str
    epoch: int


Event = Union[BatchStats, EpochStats, Stopped]


@dataclass
class TrainData:
    """Clean images on the training device, float32 (N, 1, 28, 28) in [0, 1]."""

    x_train: torch.Tensor
    x_val: torch.Tensor


@dataclass
class TrainState:
    """Everything a run needs to go on: model, optimizer, config, finished-epoch history."""

    config: TrainConfig
    model: DenoisingAutoencoder
    optimizer: torch.optim.Optimizer
    device: torch.device
    history: list = field(default_factory=list)  # one EpochStats dict per finished epoch

    @property
    def epochs_done(self) -> int:
        return len(self.history)


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else mps, else cpu; an unavailable explicit device is refused."""
    from .errors import DaeError

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DaeError("device 'cuda' was asked for but no CUDA GPU is available; use auto or cpu")
    return torch.device(name)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Adam:
    # The fused kernel updates all parameters in one call: fewer launches on GPU, faster on CPU too.
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=fused or None)


def place(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a model to `device`, in the memory layout its convolutions run fastest in there.

    On CPU that is channels-last (NHWC): dae_core/native's kernels read it as it is, and oneDNN
    (for the layers PyTorch runs) skips a reorder between the plain and its blocked layout around
    every layer; with PyTorch's layers alone an epoch took 2-17% less time this way (three
    in-process A/Bs; `benchmarks/bench_choices.py --undo layout` repeats one). Training
    and loading both use it, so a model gives bit-identical outputs before saving and after
    loading. The values are the same; only the strides differ.
    """
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cpu" else model


def new_state(cfg: TrainConfig) -> TrainState:
    """A fresh model whose initial weights depend only on cfg.seed."""
    device = resolve_device(cfg.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = DenoisingAutoencoder(cfg.latent_dim, cfg.width)
    model = place(model, device)
    return TrainState(cfg, model, make_optimizer(model, cfg, device), device)


def prepare_data(cfg: TrainConfig, device: torch.device) -> TrainData:
    """The config's train / validation split, moved to the device once."""
    digits = load_digits(cfg.dataset)
    images = digits.train_images
    if cfg.train_subset:
        images = images[: cfg.train_subset]
    split = split_indices(len(images), cfg.val_fraction, cfg.seed)
    x = to_float(images)
    return TrainData(x[split.train].to(device), x[split.val].to(device))


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def reconstruction_mse(model, x: torch.Tensor, noise: str, strength: float, seed: int,
                       batch_size: int = 2048) -> float:
    """Mean per-pixel MSE of model(noisy x) against x; the noise is drawn from `seed`."""
    was_training = model.training
    model.eval()
    g = _generator(x.device, seed)
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    for i in range(0, len(x), batch_size):
        xb = x[i: i + batch_size]
        total += F.mse_loss(model(add_noise(xb, noise, strength, g)), xb, reduction="sum").double()
    model.train(was_training)
    return total.item() / x.numel()


def _all_finite(model: torch.nn.Module) -> bool:
    """True when every parameter and buffer (BatchNorm statistics included) is finite."""
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def _restore(model, opt, snapshot) -> None:
    model.load_state_dict(snapshot[0])
    opt.load_state_dict(snapshot[1])


def fit(state: TrainState, data: TrainData, epochs: int | None = None,
        stop: threading.Event | None = None, report_every: int = 10) -> Iterator[Event]:
    """Train `epochs` more epochs (default: the config's), yielding stats as they happen.

    Shuffling and noise are drawn from (seed, epoch) alone, so resuming from a checkpoint gives
    the same weights as one uninterrupted run. Between batches `stop` is checked; a non-finite
    loss restores the weights of the last finished epoch and ends the run with a Stopped event.
    """
    cfg, model, opt = state.config, state.model, state.optimizer
    n = len(data.x_train)
    n_batches = math.ceil(n / cfg.batch_size)
    first = state.epochs_done + 1
    for epoch in range(first, first + (cfg.epochs if epochs is None else epochs)):
        snapshot = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()))
        g = _generator(state.device, cfg.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g, device=state.device)
        model.train()
        t0 = time.perf_counter()
        epoch_sum = torch.zeros((), device=state.device)
        window_sum, window_n = torch.zeros((), device=state.device), 0
        for b in range(n_batches):
            if stop is not None and stop.is_set():
                yield Stopped("stopped", f"stopped by request during epoch {epoch}", epoch)
                return
            x = data.x_train[perm[b * cfg.batch_size: (b + 1) * cfg.batch_size]]
            if cfg.augment:
                x = random_affine(x, cfg.augment, g)
            x_noisy = add_noise(x, cfg.noise, cfg.noise_strength, g)
            loss = F.mse_loss(model(x_noisy), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # Losses stay on the device; the host syncs once per report, not once per step.
            loss = loss.detach() * len(x)
            epoch_sum += loss
            window_sum += loss
            window_n += len(x)
            if (b + 1) % report_every == 0 or b + 1 == n_batches:
                mean = window_sum.item() / window_n
                if not math.isfinite(mean) or not _all_finite(model):
                    _restore(model, opt, snapshot)
                    yield Stopped("diverged", f"training diverged in epoch {epoch}, batch {b + 1} "
                                  f"(loss {mean:.4g} or non-finite weights); weights restored to the "
                                  f"end of epoch {epoch - 1}. Try a lower learning rate (now {cfg.lr}).",
                                  epoch)
                    return
                seconds = time.perf_counter() - t0
                done = min((b + 1) * cfg.batch_size, n)
                yield BatchStats(epoch, b + 1, n_batches, mean, seconds, done / seconds)
                window_sum, window_n = torch.zeros((), device=state.device), 0
        train_seconds = time.perf_counter() - t0
        # Validation noise is drawn from a fixed seed so epochs are compared on the same inputs.
        val = reconstruction_mse(model, data.x_val, cfg.noise, cfg.noise_strength, cfg.seed)
        if not math.isfinite(val):
            _restore(model, opt, snapshot)
            yield Stopped("diverged", f"validation loss became {val} in epoch {epoch}; weights "
                          f"restored to the end of epoch {epoch - 1}. Try a lower learning rate.", epoch)
            return
        stats = EpochStats(epoch, epoch_sum.item() / n, val, time.perf_counter() - t0,
                           n / train_seconds)
        state.history.append(asdict(stats))
        yield stats
