"""Reconstruction scores: per-image MSE / PSNR, a checkpoint's val and test error."""
from __future__ import annotations

import numpy as np

from dae_core.data import load_digits, reconstruction_mse, to_float, training_split


def psnr(mse: float | np.ndarray) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB for images in [0, 1]: 10 log10(1 / MSE)."""
    return 10.0 * np.log10(1.0 / np.maximum(mse, 1e-12))


def per_image_mse(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """(N, 28, 28) pairs -> (N,) mean squared error of each image."""
    diff = np.asarray(x, np.float64) - np.asarray(x_hat, np.float64)
    return (diff ** 2).reshape(len(diff), -1).mean(axis=1)


def evaluate(model, config, test_seed: int = 1) -> dict:
    """Validation and test MSE and PSNR of `model` at its config's noise (fixed noise seeds)."""
    device = next(model.parameters()).device
    x_val = to_float(training_split(config).val_images).to(device)
    x_test = to_float(load_digits(config.dataset).test_images).to(device)
    val = reconstruction_mse(model, x_val, config.noise, config.noise_strength, config.seed)
    test = reconstruction_mse(model, x_test, config.noise, config.noise_strength, test_seed)
    return {"val_mse": val, "val_psnr": float(psnr(val)), "test_mse": test,
            "test_psnr": float(psnr(test)), "noise": config.noise,
            "noise_strength": config.noise_strength}
