"""Denoising digits: pick test digits, corrupt them, reconstruct and score them, sweep the noise."""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import torch

from dae_core.analysis.latent import reconstruct
from dae_core.config import NOISE_KINDS, NOISE_MAX_STRENGTH
from dae_core.data import add_noise, to_float
from dae_core.errors import DaeError
from dae_core.evaluate import per_image_mse, psnr

NOISES = ("none", *NOISE_KINDS)  # "none": reconstruct the input as it is (e.g. an uploaded digit)
MAX_STRENGTH = {**NOISE_MAX_STRENGTH, "none": 1.0}
SWEEP_STRENGTHS = np.linspace(0.0, 1.0, 11)
MAX_PICK = 32  # digits shown at once: more would not fit a row of captioned images


class Denoised(NamedTuple):
    """Clean, corrupted and reconstructed images (N, 28, 28) with per-image scores (N,)."""

    x: np.ndarray
    x_noisy: np.ndarray
    x_hat: np.ndarray
    mse_noisy: np.ndarray  # corrupted vs clean
    mse: np.ndarray  # reconstruction vs clean
    psnr: np.ndarray  # of the reconstruction, in dB


def corrupt(x: torch.Tensor, noise: str, strength: float, seed: int) -> torch.Tensor:
    """The batch with `noise` of `strength` drawn from `seed` ("none" returns it unchanged)."""
    if noise not in NOISES:
        raise DaeError(f"unknown noise {noise!r}; choose from {', '.join(NOISES)}")
    if not 0.0 <= strength <= MAX_STRENGTH[noise]:
        raise DaeError(f"{noise} strength must be in [0, {MAX_STRENGTH[noise]}], got {strength}")
    if noise == "none":
        return x.clone()
    return add_noise(x, noise, float(strength), torch.Generator().manual_seed(int(seed)))


def denoise(model, x: np.ndarray, x_noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruct the noisy (N, 28, 28) images: x_hat (N, 28, 28) and its MSE to the clean x (N,)."""
    x_hat = reconstruct(model, to_float(x_noisy))
    return x_hat, per_image_mse(x, x_hat)


def corrupt_and_reconstruct(model, images, noise: str, strength: float, seed: int) -> Denoised:
    """Corrupt the images (see data.to_float) with a seeded noise, reconstruct them, score both."""
    x = to_float(images)
    x_noisy = corrupt(x, noise, strength, seed)
    x_np, noisy_np = x[:, 0].numpy(), x_noisy[:, 0].numpy()
    x_hat, mse = denoise(model, x_np, noisy_np)
    return Denoised(x_np, noisy_np, x_hat, per_image_mse(x_np, noisy_np), mse, psnr(mse))


def noise_sweep(model, images, noise: str, strengths=SWEEP_STRENGTHS, seed: int = 0,
                batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Mean MSE to the clean images of the corrupted input and of the reconstruction: two (S,).

    Each strength draws its noise from the same seed, so the curves are smooth in strength.
    """
    x = to_float(images)
    noisy_mse, hat_mse = np.zeros(len(strengths)), np.zeros(len(strengths))
    for s, strength in enumerate(strengths):
        x_noisy = corrupt(x, noise, float(strength), seed)
        for i in range(0, len(x), batch_size):
            xb, nb = x[i: i + batch_size, 0].numpy(), x_noisy[i: i + batch_size, 0].numpy()
            noisy_mse[s] += per_image_mse(xb, nb).sum()
            hat_mse[s] += denoise(model, xb, nb)[1].sum()
    return noisy_mse / max(len(x), 1), hat_mse / max(len(x), 1)


def pick_digits(labels: np.ndarray, n: int, seed: int, digit: int | None = None) -> np.ndarray:
    """n distinct indices drawn with `seed`, among all images or those labelled `digit` (n,) int."""
    labels = np.asarray(labels)
    pool = np.arange(len(labels)) if digit is None else np.flatnonzero(labels == digit)
    if len(pool) == 0:
        raise DaeError(f"no image is labelled {digit}")
    n = min(max(int(n), 1), len(pool), MAX_PICK)
    return np.random.default_rng(int(seed)).choice(pool, n, replace=False)


def parse_indices(text: str, n_total: int) -> np.ndarray:
    """'3, 17 42' -> array([3, 17, 42]): distinct indices in [0, n_total), in the order given."""
    tokens = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    if not tokens:
        raise DaeError("enter at least one index, e.g. 0, 1, 2")
    out = []
    for t in tokens:
        if not re.fullmatch(r"\d+", t) or int(t) >= n_total:
            raise DaeError(f"{t!r} is not an index between 0 and {n_total - 1}")
        if int(t) not in out:
            out.append(int(t))
    if len(out) > MAX_PICK:
        raise DaeError(f"at most {MAX_PICK} digits at once, got {len(out)}")
    return np.array(out, dtype=np.int64)
