"""The split model's dials: one for the digit (its class part), one per style coordinate.

Arrays in, arrays out: codes come from latent.encode / LatentSampler, images from latent.decode.
"""
from __future__ import annotations

import numpy as np

from dae_core.analysis.cluster import match_clusters
from dae_core.analysis.latent import DEFAULT_SAMPLER, LatentSampler, decode, slider_ranges
from dae_core.errors import DaeError


def parts_of(model) -> tuple[list[int], list[int]]:
    """(class coordinates, style coordinates) of a split model's code; a one-line DaeError for a
    model whose code is not split."""
    if not hasattr(model, "class_dims"):
        raise DaeError("this model's code has no style part: style dials need a model trained "
                       "with `dae train-split`")
    return model.class_dims, model.style_dims


def style_sweep_codes(z_train: np.ndarray, style_dims: list[int], n: int, steps: int, seed: int = 0,
                      sampler: str = DEFAULT_SAMPLER) -> np.ndarray:
    """(n, steps, d) codes: row i is one code drawn from `sampler` (fitted on the training codes)
    with style coordinate style_dims[i % len(style_dims)] swept over its slider range (the
    training codes' 1st to 99th percentile); every other coordinate, the class part too, is fixed."""
    if not style_dims:
        raise DaeError("this model's code has no style coordinates to sweep")
    if n < 1 or steps < 2:
        raise DaeError(f"a style sweep needs at least 1 row and 2 steps; got {n} and {steps}")
    low, high, _ = slider_ranges(z_train)
    base = LatentSampler(sampler, seed=seed).fit(z_train).sample(n, seed)
    z = np.repeat(base[:, None], steps, axis=1)  # (n, steps, d)
    for i in range(n):
        j = style_dims[i % len(style_dims)]
        z[i, :, j] = np.linspace(low[j], high[j], steps, dtype=np.float32)
    return z


def style_sweeps(model, z_train: np.ndarray, n: int, steps: int, seed: int = 0) -> np.ndarray:
    """(n, steps, 28, 28) images: style_sweep_codes of a split model, decoded."""
    _, style_dims = parts_of(model)
    z = style_sweep_codes(z_train, style_dims, n, steps, seed)
    return decode(model, z.reshape(n * steps, -1)).reshape(n, steps, 28, 28)


def class_groups(model, z: np.ndarray) -> np.ndarray | None:
    """(N,) the class each code's class part names (its arg-max) for a split model; None else."""
    if not hasattr(model, "class_dims"):
        return None
    return np.asarray(z)[:, model.class_dims].argmax(axis=1)


def fit_sampler(model, z_train: np.ndarray, kind: str, seed: int = 0) -> LatentSampler:
    """LatentSampler(kind) fitted on the training codes; for a split model, cluster:K draws from
    one Gaussian per class its class part names (a mixture fitted to the whole code splits along
    the style numbers, which spread far more than the probabilities)."""
    sampler = LatentSampler(kind, seed=seed)
    if kind == "uniform01":
        return sampler
    groups = class_groups(model, z_train) if kind.startswith("cluster") else None
    return sampler.fit(z_train, groups)


def component_digits(model, sampler: LatentSampler, z_train: np.ndarray, y_train: np.ndarray
                     ) -> dict[int, int]:
    """Component -> digit of a cluster:K sampler fitted by fit_sampler: its components matched
    to the digits on the training codes (Hungarian), as the Cluster page matches clusters."""
    groups = class_groups(model, z_train)
    if groups is None:
        groups = sampler.gmm.predict(np.asarray(z_train, np.float64))
    return match_clusters(np.asarray(y_train), groups)
