"""A small CNN digit classifier, the yardstick for generated samples: model, training engine, save / load."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Union

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import CheckpointError, read_payload, save
from .data import load_digits, to_float

FORMAT = "dae-lab-classifier"
FORMAT_VERSION = 1


class DigitClassifier(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> logits (B, 10); features(x) -> the penultimate units (B, hidden).

    LeNet-shaped (5x5 valid convolutions): on a 2-core CPU an epoch takes under a minute, where
    32/64-channel 'same' convolutions take three. `metrics` / `history` are filled by load_classifier.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), hidden: int = 128):
        super().__init__()
        c1, c2 = channels
        self.channels, self.hidden = (int(c1), int(c2)), int(hidden)
        self.metrics, self.history = {}, []
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 5),  # (B, 16, 24, 24)
            nn.MaxPool2d(2),  # (B, 16, 12, 12)
            nn.ReLU(True),  # after the pool: max and ReLU commute, and it touches 4x fewer values
            nn.Conv2d(c1, c2, 5),  # (B, 32, 8, 8)
            nn.MaxPool2d(2),  # (B, 32, 4, 4)
            nn.ReLU(True),
            nn.Flatten(),  # (B, 512)
        )
        self.fc = nn.Sequential(nn.Dropout(0.25), nn.Linear(c2 * 16, hidden), nn.ReLU(True))  # (B, 128)
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(hidden, 10))  # (B, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> (B, hidden): what the Frechet distance compares."""
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class ClassifierBatch:
    """Progress inside an epoch; `loss` is the mean cross-entropy since the previous report."""

    epoch: int
    batch: int
    n_batches: int
    loss: float
    seconds: float  # since the epoch started


@dataclass(frozen=True)
class ClassifierEpoch:
    """One finished epoch, as stored in the checkpoint's history."""

    epoch: int
    train_loss: float
    test_accuracy: float
    seconds: float


@dataclass
class ClassifierData:
    """Float images (N, 1, 28, 28) in [0, 1] and int64 labels, already on the training device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_classifier_data(subset: int = 0, device: str = "cpu") -> ClassifierData:
    """All 60k MNIST training images (or the first `subset`) and the 10k test images."""
    d = load_digits("mnist")
    n = subset or None
    return ClassifierData(to_float(d.train_images[:n]).to(device), d.train_labels[:n].to(device),
                          to_float(d.test_images).to(device), d.test_labels.to(device))


def new_classifier(seed: int = 0) -> DigitClassifier:
    """A fresh classifier whose initial weights depend only on `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DigitClassifier()


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Move each image by its own (dy, dx) in [-max_shift, max_shift], filling with 0: same shape."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=g, device=x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, :, None]  # (N, 28, 1)
    cols = (dx + torch.arange(w, device=x.device))[:, None, :]  # (N, 1, 28)
    return padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)


@torch.inference_mode()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> float:
    """Share of images whose argmax logit equals the label."""
    was_training = model.training
    model.eval()
    correct = sum(int((model(x[i: i + batch_size]).argmax(1) == y[i: i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    model.train(was_training)
    return correct / max(len(x), 1)


def fit_classifier(model: DigitClassifier, data: ClassifierData, epochs: int = 4, seed: int = 0,
                   batch_size: int = 128, lr: float = 2e-3, max_shift: int = 2, report_every: int = 20
                   ) -> Iterator[Union[ClassifierBatch, ClassifierEpoch]]:
    """Adam with a cosine learning-rate decay to 0, on randomly shifted images; yields stats.

    Shuffling, shifts and dropout masks are drawn from (seed, epoch, batch) alone; the global
    torch RNG is left as it was.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(data.x_train)
    n_batches = math.ceil(n / batch_size)
    total_steps = epochs * n_batches
    for epoch in range(1, epochs + 1):
        g = torch.Generator(device=data.x_train.device).manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g, device=data.x_train.device)
        model.train()
        t0 = time.perf_counter()
        epoch_sum, window_sum, window_n = 0.0, 0.0, 0
        for b in range(n_batches):
            idx = perm[b * batch_size: (b + 1) * batch_size]
            x = random_shift(data.x_train[idx], max_shift, g) if max_shift else data.x_train[idx]
            step = (epoch - 1) * n_batches + b
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(seed * 1_000_003 + epoch * 100_003 + b)
                loss = F.cross_entropy(model(x), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            window_sum += loss.item() * len(idx)
            window_n += len(idx)
            if (b + 1) % report_every == 0 or b + 1 == n_batches:
                yield ClassifierBatch(epoch, b + 1, n_batches, window_sum / window_n, time.perf_counter() - t0)
                epoch_sum, window_sum, window_n = epoch_sum + window_sum, 0.0, 0
        test_acc = accuracy(model, data.x_test, data.y_test)
        yield ClassifierEpoch(epoch, epoch_sum / n, test_acc, time.perf_counter() - t0)


def train_classifier(epochs: int = 4, seed: int = 0, batch_size: int = 128, lr: float = 2e-3,
                     subset: int = 0, progress: Callable | None = None) -> tuple[DigitClassifier, list]:
    """Train a fresh classifier on MNIST: (model in eval mode, history as a list of epoch dicts)."""
    model, history = new_classifier(seed), []
    for event in fit_classifier(model, load_classifier_data(subset), epochs, seed, batch_size, lr):
        if isinstance(event, ClassifierEpoch):
            history.append(asdict(event))
        if progress is not None:
            progress(event)
    return model.eval(), history


def save_classifier(model: DigitClassifier, path: str | Path, metrics: dict | None = None,
                    history: list | None = None) -> Path:
    """Write the weights, architecture, metrics and history as plain data, atomically."""
    return save({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": {"channels": list(model.channels), "hidden": model.hidden},
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": dict(metrics or {}),
        "history": [dict(h) for h in (history or [])],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
    }, path)


def load_classifier(path: str | Path) -> DigitClassifier:
    """Rebuild a saved classifier on the CPU, in eval mode, with its metrics and history attached."""
    path = Path(path)
    payload = read_payload(path, FORMAT, FORMAT_VERSION, kind="classifier")
    arch, state = payload.get("arch"), payload.get("model")
    try:
        channels, hidden = [int(c) for c in arch["channels"]], int(arch["hidden"])
        model = DigitClassifier((channels[0], channels[1]), hidden)
    except (TypeError, KeyError, IndexError, ValueError, RuntimeError):
        raise CheckpointError(f"{path.name} has a bad architecture record: {arch!r}"[:200]) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} has no classifier weights")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path.name} does not match its architecture: {' '.join(str(e).split())}"[:240]
                              ) from None
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise CheckpointError(f"{path.name} has NaN or infinite weights")
    model.metrics = payload.get("metrics") if isinstance(payload.get("metrics"), dict) else {}
    model.history = payload.get("history") if isinstance(payload.get("history"), list) else []
    return model.eval()
