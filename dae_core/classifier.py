"""A small CNN digit classifier, the yardstick for generated samples: model, objective, save / load.

It trains with the autoencoder's engine (dae_core.train.fit) and saves in the same checkpoint format."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from dae_core.checkpoint import CheckpointError, load_weights, make_payload, read_payload, save
from dae_core.config import TrainConfig
from dae_core.data import load_digits, to_float
from dae_core.errors import file_label, shown
from dae_core.records import checked_metrics
from dae_core.optim import make_optimizer
from dae_core.state import TrainState
from dae_core.train import TrainData, fit

KIND = "classifier"  # the checkpoint kind of its files
MAX_UNITS = 4096  # the most channels or hidden units a file's architecture may ask for


class DigitClassifier(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> logits (B, 10); features(x) -> the penultimate units (B, hidden).

    LeNet-shaped (5x5 valid convolutions): small feature maps keep an epoch cheap on a CPU, several
    times cheaper than 32/64-channel 'same' convolutions (docs/speed.md). `metrics` / `history` are
    filled by load_classifier.
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


def classifier_config(epochs: int = 4, seed: int = 0, subset: int = 0) -> TrainConfig:
    """The classifier's recipe: Adam 2e-3 with a cosine decay to 0, batch 128, on the CPU."""
    return TrainConfig(epochs=epochs, lr=2e-3, schedule="cosine", batch_size=128, seed=seed,
                       train_subset=subset, device="cpu")


def load_classifier_data(subset: int = 0, device: str = "cpu") -> TrainData:
    """All 60k MNIST training images (or the first `subset`) to learn, the 10k test images to score."""
    d = load_digits("mnist")
    n = subset or None
    return TrainData(to_float(d.train_images[:n]).to(device), to_float(d.test_images).to(device),
                     d.train_labels[:n].to(device), d.test_labels.to(device))


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


@torch.inference_mode()
def cross_entropy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> float:
    """Mean cross-entropy of the model's logits against the labels, in eval mode."""
    was_training = model.training
    model.eval()
    total = sum(float(F.cross_entropy(model(x[i: i + batch_size]), y[i: i + batch_size], reduction="sum"))
                for i in range(0, len(x), batch_size))
    model.train(was_training)
    return total / max(len(x), 1)


@dataclass(frozen=True)
class Classifying:
    """The classifier's objective for the engine: cross-entropy on randomly shifted digits."""

    max_shift: int = 2  # each image moves by up to this many pixels each way

    def loss(self, model, x, y, g):
        if self.max_shift:
            x = random_shift(x, self.max_shift, g)
        with torch.random.fork_rng(devices=[]):  # dropout masks from the run's generator: runs reproduce
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=g, device=g.device)))
            return F.cross_entropy(model(x), y)

    def validate(self, model, data: TrainData) -> dict:
        return {"val_loss": cross_entropy(model, data.x_val, data.y_val),
                "val_accuracy": accuracy(model, data.x_val, data.y_val)}


def train_classifier(config: TrainConfig, data: TrainData | None = None, stop=None, model=None
                     ) -> tuple[TrainState, Iterator]:
    """A fresh classifier's TrainState and the engine's event stream over `data` (default: MNIST).

    The stream is dae_core.train.fit's: BatchStats, EpochStats (val = the test set), Stopped.
    """
    model = model or new_classifier(config.seed)
    device = torch.device("cpu")
    state = TrainState(config, model, make_optimizer(model, config, device), device)
    data = data or load_classifier_data(config.train_subset)
    return state, fit(state, data, stop=stop, report_every=20, objective=Classifying())


def save_classifier(model: DigitClassifier, path: str | Path, metrics: dict | None = None,
                    history: list | None = None, config: TrainConfig | None = None,
                    overwrite: bool = True) -> Path:
    """Write a DAE Lab checkpoint of kind 'classifier': weights, architecture, recipe, card; atomically
    (overwrite=False refuses an existing `path`)."""
    return save(make_payload(KIND, model, config or classifier_config(), history, metrics,
                        arch={"channels": list(model.channels), "hidden": model.hidden}), path, overwrite)


def _sizes(arch) -> list[int] | None:
    """[channels, channels, hidden units] of a file's architecture record, when each is a whole
    number up to MAX_UNITS (a file's 10**12 channels would otherwise be allocated), else None."""
    try:
        sizes = [*arch["channels"], arch["hidden"]]
    except (TypeError, KeyError):
        return None
    whole = all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_UNITS for n in sizes)
    return sizes if whole and len(sizes) == 3 else None


def load_classifier(path: str | Path) -> DigitClassifier:
    """Rebuild a saved classifier on the CPU, in eval mode, with its metrics and history attached."""
    path = Path(path)
    payload = read_payload(path, kind=KIND)
    arch, state = payload.get("arch"), payload.get("model")
    label = file_label(path.name)
    sizes = _sizes(arch)
    if sizes is None:
        raise CheckpointError(f"{label} has a bad architecture record: {shown(arch, 120)}")
    model = DigitClassifier((sizes[0], sizes[1]), sizes[2])
    load_weights(model, state, label,
                 f"its architecture (channels {sizes[0]}, {sizes[1]}; hidden {sizes[2]})")
    model.metrics = checked_metrics(payload, label)
    model.history = payload.get("history") if isinstance(payload.get("history"), list) else []
    return model.eval()
