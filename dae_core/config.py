"""TrainConfig: every hyper-parameter of a run, frozen, validated in one place, saved in checkpoints."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from dae_core.errors import ConfigError, shown

# Strongest corruption each noise kind accepts: a gaussian sigma, or the share of pixels hit.
NOISE_MAX_STRENGTH = {"gaussian": 5.0, "salt_pepper": 1.0, "mask": 1.0}
NOISE_KINDS = tuple(NOISE_MAX_STRENGTH)
SCHEDULES = ("constant", "onecycle", "cosine")
DEVICES = ("auto", "cpu", "cuda")
DATASETS = ("mnist", "fashion_mnist", "kmnist")


# Each field's name in the Train form; messages use it, so the app and the command line say the same.
LABELS = {
    "latent_dim": "Latent size", "width": "Width multiplier", "noise": "Noise kind",
    "noise_strength": "Noise strength", "epochs": "Epochs", "lr": "Learning rate",
    "schedule": "Schedule", "batch_size": "Batch size", "val_fraction": "Validation fraction",
    "seed": "Seed", "device": "Device", "dataset": "Dataset", "train_subset": "Train subset",
    "augment": "Augment",
}


@dataclass(frozen=True)
class TrainConfig:
    """Defaults are the reference run: d=4, gaussian noise 0.3, Adam 1e-3, batch 256, 30 epochs."""

    latent_dim: int = 4  # d, size of the code z
    width: int = 1  # channel multiplier: conv channels are (8, 16, 32) * width
    noise: str = "gaussian"  # gaussian | salt_pepper | mask
    noise_strength: float = 0.3  # gaussian sigma, or fraction of pixels flipped / masked
    epochs: int = 30  # full passes over the training split
    lr: float = 1e-3  # Adam learning rate; the peak rate of a onecycle or cosine schedule
    schedule: str = "constant"  # constant | onecycle (warm up to lr, anneal) | cosine (lr -> 0)
    batch_size: int = 256  # images per optimizer step
    val_fraction: float = 0.2  # share of the 60k training set held out (0.2 -> 48k / 12k)
    seed: int = 0  # drives the split, the shuffling, the noise and the initial weights
    device: str = "auto"  # auto | cpu | cuda
    dataset: str = "mnist"  # mnist | fashion_mnist | kmnist
    train_subset: int = 0  # use only the first N training images (0 = all); for smoke runs
    augment: float = 0.0  # random affine jitter of the clean images: 1.0 = ±10°, ±2 px, ±10% scale

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first impossible field."""
        _check_int(self.latent_dim, "latent_dim", 1, 256)
        _check_int(self.width, "width", 1, 16)
        _check_int(self.epochs, "epochs", 1, 10_000)
        _check_int(self.batch_size, "batch_size", 1, 65_536)
        _check_int(self.seed, "seed", 0, 2**63 - 1)
        _check_int(self.train_subset, "train_subset", 0, 10_000_000)
        _check_choice(self.noise, "noise", NOISE_KINDS)
        _check_choice(self.device, "device", DEVICES)
        _check_choice(self.dataset, "dataset", DATASETS)
        _check_choice(self.schedule, "schedule", SCHEDULES)
        _check_float(self.lr, "lr", 0.0, 10.0, low_open=True)
        _check_float(self.noise_strength, "noise_strength", 0.0, NOISE_MAX_STRENGTH[self.noise],
                     rule=f" for {self.noise} noise")
        _check_float(self.val_fraction, "val_fraction", 0.0, 0.9, low_open=True)
        _check_float(self.augment, "augment", 0.0, 3.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Rebuild from a checkpoint's dict; unknown keys are refused, missing ones take defaults."""
        if not isinstance(d, dict):
            raise ConfigError(f"config must be a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [key for key in d if key not in names]
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(shown(k, 40) for k in unknown[:3])}"
                              + (f" and {len(unknown) - 3:,} more" if len(unknown) > 3 else ""))
        return cls(**d)


# Named recipes; their fields override the defaults, and any field given with a preset overrides it.
PRESETS = {
    "reference": {},  # the reference run: 30 epochs at a constant 1e-3
    # One-cycle (Smith & Topor, 2017): warm up to a 15x higher peak, then anneal. Large steps go far
    # early and the anneal settles the model, so 10 epochs reach the reference's 30 (docs/speed.md).
    "quick": {"epochs": 10, "schedule": "onecycle", "lr": 1.5e-2},
}


# `dae train-split`'s defaults: the recipe of the shipped split model (docs/recipe.md).
SPLIT_RECIPE = {"style_dim": 12, "width": 1, "epochs": 50, "lr": 1e-2, "schedule": "onecycle",
                "batch_size": 256, "class_weight": 1.0, "view_augment": 1.0, "stroke": 0.5,
                "teacher": "checkpoints/cluster-d10-refined.pt", "teacher_method": "umap-gmm",
                "plain": 0.9, "swap_weight": 0.005}


def preset(name: str, **overrides) -> TrainConfig:
    """The named recipe's TrainConfig, with `overrides` applied on top of it."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    return TrainConfig(**{**PRESETS[name], **overrides})


def _named(name: str) -> str:
    """'Learning rate (lr)': the form's label, then the key the command line and checkpoints use."""
    return f"{LABELS[name]} ({name})"


def finite_float(value) -> float | None:
    """`value` as a float when it is a finite int or float (a bool is not a number here), else
    None. Converts before it checks: math.isfinite(10**400) raises OverflowError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _check_int(value, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{_named(name)} must be a whole number; you entered {shown(value)}")
    if not low <= value <= high:
        entered = f"{value:,}" if value.bit_length() <= 64 else shown(value)
        raise ConfigError(f"{_named(name)} must be between {low:,} and {high:,}; you entered {entered}")


def _check_float(value, name: str, low: float, high: float, low_open: bool = False, rule: str = "") -> None:
    number = finite_float(value)
    if number is None:
        raise ConfigError(f"{_named(name)} must be a finite number; you entered {shown(value)}")
    too_low = number <= low if low_open else number < low
    if too_low or number > high:
        span = f"above {low:g} and at most {high:g}" if low_open else f"between {low:g} and {high:g}"
        raise ConfigError(f"{_named(name)} must be {span}{rule}; you entered {shown(number)}")


def _check_choice(value, name: str, choices: tuple) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{_named(name)} must be one of {', '.join(choices)}; you entered {shown(value)}")
