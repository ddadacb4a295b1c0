"""The split model's dials: one for the digit (its class part), one per style coordinate.

Arrays in, arrays out: codes come from latent.encode / LatentSampler, images from latent.decode.
"""
from __future__ import annotations

import numpy as np

from dae_core.analysis.cluster import match_clusters
from dae_core.analysis.latent import (
    DEFAULT_SAMPLER,
    LatentSampler,
    class_dims_of,
    decode,
    slider_ranges,
)
from dae_core.errors import DaeError


def parts_of(model) -> tuple[list[int], list[int]]:
    """(class coordinates, style coordinates) of a split model's code; a one-line DaeError for a
    model whose code is not split."""
    if not hasattr(model, "class_dims"):
        raise DaeError("this model's code has no style part: style dials need a model trained "
                       "with `dae train-split`")
    return model.class_dims, model.style_dims


def style_ranges(z_train: np.ndarray, class_dims: list[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (n_classes, d): the 1st and 99th percentile of every coordinate over the
    training codes whose class part names each class: the range of the style dials once a digit
    is chosen. Without class_dims, one row: the percentiles over all codes."""
    z = np.asarray(z_train, np.float32)
    if not class_dims:
        low, high, _ = slider_ranges(z)
        return low[None], high[None]
    groups = z[:, class_dims].argmax(axis=1)
    rows = [slider_ranges(z[groups == c]) if (groups == c).sum() >= 2 else slider_ranges(z)
            for c in range(len(class_dims))]
    return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])


def style_sweep_codes(z_train: np.ndarray, style_dims: list[int], n: int, steps: int, seed: int = 0,
                      sampler: str = DEFAULT_SAMPLER, class_dims: list[int] | None = None) -> np.ndarray:
    """(n, steps, d) codes: row i is one code drawn from `sampler` (fitted on the training codes)
    with style coordinate style_dims[i % len(style_dims)] swept over its slider range (the
    training codes' 1st to 99th percentile; with a split model's class_dims, over the codes of
    the class the drawn code names, as the explorer's style dials span it once a digit is
    chosen); every other coordinate, the class part too, is fixed."""
    if not style_dims:
        raise DaeError("this model's code has no style coordinates to sweep")
    if n < 1 or steps < 2:
        raise DaeError(f"a style sweep needs at least 1 row and 2 steps; got {n} and {steps}")
    low, high = style_ranges(z_train, class_dims)
    base = LatentSampler(sampler, seed=seed, class_dims=class_dims).fit(z_train).sample(n, seed)
    rows = base[:, class_dims].argmax(axis=1) if class_dims else np.zeros(n, int)
    z = np.repeat(base[:, None], steps, axis=1)  # (n, steps, d)
    for i in range(n):
        j = style_dims[i % len(style_dims)]
        z[i, :, j] = np.linspace(low[rows[i], j], high[rows[i], j], steps, dtype=np.float32)
    return z


def style_sweeps(model, z_train: np.ndarray, n: int, steps: int, seed: int = 0) -> np.ndarray:
    """(n, steps, 28, 28) images: style_sweep_codes of a split model, decoded."""
    class_dims, style_dims = parts_of(model)
    z = style_sweep_codes(z_train, style_dims, n, steps, seed, class_dims=class_dims)
    return decode(model, z.reshape(n * steps, -1)).reshape(n, steps, 28, 28)


def class_groups(model, z: np.ndarray) -> np.ndarray | None:
    """(N,) the class each code's class part names (its arg-max) for a split model; None else."""
    class_dims = class_dims_of(model)
    return None if class_dims is None else np.asarray(z)[:, class_dims].argmax(axis=1)


def class_digits(model, z_train: np.ndarray, y_train: np.ndarray) -> dict[int, int] | None:
    """Class -> digit of a split model: the classes its class part names on the training codes,
    matched to the digits (Hungarian), as the Cluster page matches clusters; None for others."""
    groups = class_groups(model, z_train)
    return None if groups is None else match_clusters(np.asarray(y_train), groups)


def fit_sampler(model, z_train: np.ndarray, kind: str, seed: int = 0) -> LatentSampler:
    """LatentSampler(kind) fitted on the training codes, as the app fits it: for a split model,
    its mixtures have one Gaussian per class its class part names (LatentSampler's class_dims)."""
    sampler = LatentSampler(kind, seed=seed, class_dims=class_dims_of(model))
    return sampler if kind == "uniform01" else sampler.fit(z_train)


def component_digits(model, sampler: LatentSampler, z_train: np.ndarray, y_train: np.ndarray
                     ) -> dict[int, int]:
    """Component -> digit of a cluster:K sampler fitted by fit_sampler: its components matched
    to the digits on the training codes (Hungarian), as the Cluster page matches clusters."""
    matched = class_digits(model, z_train, y_train)
    if matched is None:
        matched = match_clusters(np.asarray(y_train), sampler.gmm.predict(np.asarray(z_train, np.float64)))
    return matched


def dial_settings(model, z_train: np.ndarray, y_train: np.ndarray) -> dict | None:
    """What the explorer's dials need of a split model, as arrays; None for a model whose code
    is not split. "class_dims", "style_dims"; "digits" (n_classes,): the digit each class is
    matched to on the training codes (Hungarian); "class_codes" (n_classes, n_classes): the
    median class part of the codes naming each class (what choosing that digit sets); "low" and
    "high" (n_classes, d): each class's style_ranges."""
    class_dims = class_dims_of(model)
    if class_dims is None:
        return None
    z = np.asarray(z_train, np.float32)
    groups, matched = class_groups(model, z), class_digits(model, z, y_train)
    eye = np.eye(len(class_dims), dtype=np.float32)
    class_codes = np.stack([np.median(z[groups == c][:, class_dims], axis=0) if (groups == c).any() else eye[c]
                            for c in range(len(class_dims))])
    low, high = style_ranges(z, class_dims)
    return {"class_dims": list(class_dims), "style_dims": list(model.style_dims),
            "digits": np.array([matched.get(c, -1) for c in range(len(class_dims))]),
            "class_codes": class_codes, "low": low, "high": high}
