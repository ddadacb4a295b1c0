"""The slow analyses that run as jobs (dae_core.serve.analyses): plain functions, arrays in, arrays out."""
from __future__ import annotations

import numpy as np


def map_2d(z: np.ndarray, projection: str, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(idx, xy): a 'tsne' map of n sampled codes, or a 'umap' map of all of them (idx = 0..N-1)."""
    from dae_core.analysis import embed

    if projection == "tsne":
        return embed.tsne_2d(z, len(z) if n is None else n, seed)
    return np.arange(len(z)), embed.umap_2d(z, seed)


def sample_quality(model, latent_dim: int, sampler, classifier, reference, n: int, seed: int) -> dict:
    """The quality dict (dae_core.analysis.quality.score_samples) of n codes drawn by a fitted sampler."""
    from dae_core.analysis.latent import decode
    from dae_core.analysis.quality import score_samples

    return score_samples(classifier, decode(model, sampler.sample(n, seed, latent_dim)), reference)


def fit_and_score(model, latent_dim: int, z: np.ndarray, kind: str, classifier, reference,
                  n: int, seed: int) -> dict:
    """sample_quality of the sampler `kind` fitted to the training codes z (N, d)."""
    from dae_core.analysis.latent import LatentSampler

    sampler = LatentSampler(kind) if kind == "uniform01" else LatentSampler(kind).fit(z)
    return sample_quality(model, latent_dim, sampler, classifier, reference, n, seed)
