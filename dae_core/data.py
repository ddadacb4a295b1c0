"""MNIST-style digits in memory: the repo's bundled IDX files (or torchvision's download), split,
noise, and a model's reconstruction error under that noise."""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dae_core.errors import DaeError
from dae_core.settings import settings

# MD5 of the decompressed canonical files (data/MNIST/README.md, and the sums torchvision checks).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_TORCHVISION_NAMES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}


class DataError(DaeError):
    """The dataset is missing, corrupt or cannot be fetched."""


@dataclass(frozen=True)
class Digits:
    """One dataset in memory: images (N, 28, 28) uint8 and labels (N,) int64, both CPU tensors."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


@dataclass(frozen=True)
class Split:
    """Index tensors of the train / validation split of the training set."""

    train: torch.Tensor
    val: torch.Tensor


def read_idx(path: Path, expected_md5: str | None = None) -> np.ndarray:
    """Decode one (optionally gzip'ed) IDX file into a uint8 array, checking its MD5 when given."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if expected_md5 and hashlib.md5(raw).hexdigest() != expected_md5:
        raise DataError(f"{path} is corrupt (MD5 mismatch); copy it again from the original")
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise DataError(f"{path} is not an IDX uint8 file (magic {magic:#x})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {shape}, found {body.size} bytes")
    return body.reshape(shape)


def _load_bundled_mnist(root: Path) -> Digits | None:
    raw = root / "MNIST" / "raw"
    files = {name: raw / f"{name}.gz" for name in MNIST_MD5}
    if not all(p.exists() for p in files.values()):
        return None
    arrays = {name: read_idx(p, MNIST_MD5[name]) for name, p in files.items()}
    digits = Digits(*(torch.from_numpy(arrays[n].copy()) for n in MNIST_MD5))
    _check_shapes(digits, 60_000, 10_000)
    return Digits(digits.train_images, digits.train_labels.long(),
                  digits.test_images, digits.test_labels.long())


def _check_shapes(d: Digits, n_train: int, n_test: int) -> None:
    expected = [(d.train_images, (n_train, 28, 28)), (d.train_labels, (n_train,)),
                (d.test_images, (n_test, 28, 28)), (d.test_labels, (n_test,))]
    for tensor, shape in expected:
        if tuple(tensor.shape) != shape:
            raise DataError(f"dataset has shape {tuple(tensor.shape)}, expected {shape}")


def _load_torchvision(name: str, root: Path) -> Digits:
    import torchvision.datasets as tvd  # imported lazily: only needed off the bundled path

    cls = getattr(tvd, _TORCHVISION_NAMES[name])
    try:
        train = cls(str(root), train=True, download=True)
        test = cls(str(root), train=False, download=True)
    except Exception as e:  # torchvision raises RuntimeError / URLError / OSError offline
        raise DataError(
            f"{_TORCHVISION_NAMES[name]} is not in {root} and could not be downloaded ({type(e).__name__}). "
            f"Connect to the internet once, or put its four IDX .gz files in "
            f"{root / _TORCHVISION_NAMES[name] / 'raw'}"
        ) from None
    return Digits(train.data.clone(), train.targets.long().clone(),
                  test.data.clone(), test.targets.long().clone())


@lru_cache(maxsize=4)
def load_digits(name: str = "mnist", root: str | Path | None = None) -> Digits:
    """The whole dataset as uint8 tensors (60k train, 10k test); cached, loaded once per process."""
    if name not in _TORCHVISION_NAMES:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(_TORCHVISION_NAMES)}")
    root = Path(root) if root is not None else settings().data_dir
    if name == "mnist":
        bundled = _load_bundled_mnist(root)
        if bundled is not None:
            return bundled
    return _load_torchvision(name, root)


def split_indices(n: int, val_fraction: float, seed: int) -> Split:
    """Deterministic shuffled split of range(n): round(n * val_fraction) indices go to validation."""
    n_val = int(round(n * val_fraction))
    if not 0 < n_val < n:
        raise DataError(f"val_fraction {val_fraction} leaves no train or no validation images of {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return Split(train=perm[n_val:].sort().values, val=perm[:n_val].sort().values)


@dataclass(frozen=True)
class TrainingSplit:
    """A config's train / validation split of the training set: uint8 images, labels, positions."""

    train_images: torch.Tensor  # (N_train, 28, 28) uint8
    train_labels: torch.Tensor  # (N_train,) int64
    val_images: torch.Tensor  # (N_val, 28, 28) uint8
    val_labels: torch.Tensor
    train_index: torch.Tensor  # positions of the training split in the full training set
    val_index: torch.Tensor


def training_split(config) -> TrainingSplit:
    """The split a run with this config trains and validates on (48k / 12k for the reference).

    The first config.train_subset images (all when 0) are split by config.val_fraction, shuffled
    with config.seed: training, evaluation, clustering and sampling all see the same split.
    """
    digits = load_digits(config.dataset)
    n = config.train_subset or None
    images, labels = digits.train_images[:n], digits.train_labels[:n]
    split = split_indices(len(images), config.val_fraction, config.seed)
    return TrainingSplit(images[split.train], labels[split.train], images[split.val],
                         labels[split.val], split.train, split.val)


def to_unit(images) -> np.ndarray:
    """uint8 images in [0, 255] (array or tensor, any shape) -> float32 in [0, 1]; floats as float32."""
    images = np.asarray(images)
    return images.astype(np.float32) / np.float32(255) if images.dtype == np.uint8 \
        else images.astype(np.float32)


def to_float(images) -> torch.Tensor:
    """uint8 or [0, 1] float images (N, H, W), (N, 1, H, W) or one (H, W), array or tensor ->
    a float32 batch (N, 1, H, W) in [0, 1] on the CPU."""
    x = torch.from_numpy(to_unit(images.cpu() if isinstance(images, torch.Tensor) else images))
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise DataError(f"images must have shape (N, H, W), got {tuple(x.shape)}")
    return x[:, None]


def add_noise(x: torch.Tensor, kind: str, strength: float, generator: torch.Generator | None = None
              ) -> torch.Tensor:
    """Corrupt a batch in [0, 1]; returns a new tensor of the same shape, still in [0, 1].

    gaussian: x + strength * N(0, 1), clamped (the reference); salt_pepper: a `strength` share
    of pixels set to 0 or 1 at random; mask: a `strength` share of pixels set to 0.
    """
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + strength * noise).clamp_(0.0, 1.0)
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    hit = u < strength
    if kind == "mask":
        return x.masked_fill(hit, 0.0)
    if kind == "salt_pepper":
        # u < strength/2 -> pepper (0), strength/2 <= u < strength -> salt (1): one draw decides both.
        return torch.where(hit, (u >= strength / 2).to(x.dtype), x)
    raise DataError(f"unknown noise kind {kind!r}")


def random_affine(x: torch.Tensor, strength: float, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Jitter each image of a (B, 1, H, W) batch: rotation ±10°·s, shift ±2 px·s, scale ±10%·s.

    Small affine jitter teaches the codes to ignore pose and keep shape; it is drawn from
    `generator`, so runs stay reproducible.
    """
    if strength <= 0:
        return x
    b, _, h, _ = x.shape
    u = torch.rand((b, 4), generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    angle = u[:, 0] * strength * (10 * torch.pi / 180)
    scale = 1 + u[:, 1] * strength * 0.1
    shift = u[:, 2:] * strength * (2 * 2 / h)  # affine_grid works in [-1, 1]: 2 px = 4 / H
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def reconstruction_mse(model, x: torch.Tensor, noise: str, strength: float, seed: int,
                       batch_size: int = 2048) -> float:
    """Mean per-pixel MSE of model(noisy x) against x, float images (N, 1, 28, 28); noise from `seed`."""
    was_training = model.training
    model.eval()
    g = torch.Generator(device=x.device).manual_seed(seed)
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    for i in range(0, len(x), batch_size):
        xb = x[i: i + batch_size]
        total += F.mse_loss(model(add_noise(xb, noise, strength, g)), xb, reduction="sum").double()
    model.train(was_training)
    return total.item() / x.numel()
