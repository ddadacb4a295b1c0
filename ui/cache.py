"""Cached loaders of immutable things: the dataset, checkpoints, a checkpoint's codes and clusterings.

Keys include the file's modification time, so a checkpoint rewritten on disk is reloaded.
Nothing cached here is ever trained or mutated (STYLE.md rule 6). The analysis modules are
imported inside the loaders that need them: they pull in scikit-learn (~1.2 s), which the home
page never needs, and `streamlit run` -> home page interactive has a 6 s budget.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from dae_core import checkpoint as ckpt_io
from dae_core.errors import DaeError
from dae_core.data import load_digits
from dae_core.denoise import SWEEP_STRENGTHS, noise_sweep as sweep
from dae_core.latent import LatentSampler


def file_key(path: str | Path) -> tuple[str, float]:
    """(path, mtime): the cache key of a file's current content."""
    p = Path(path)
    return str(p), p.stat().st_mtime if p.exists() else 0.0


@st.cache_resource(show_spinner="Loading MNIST…")
def digits(name: str = "mnist"):
    return load_digits(name)


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=16)
def checkpoint(path: str, mtime: float):
    """A loaded checkpoint (model in eval mode); raises CheckpointError for a bad file."""
    return ckpt_io.load(path)


def load_checkpoint(path: str | Path):
    return checkpoint(*file_key(path))


@st.cache_resource(show_spinner="Encoding the training and test images…", max_entries=8)
def codes(path: str, mtime: float):
    from dae_core.pipeline import encode_splits

    ck = checkpoint(path, mtime)
    digits(ck.config.dataset)
    return encode_splits(ck.model, ck.config)


@st.cache_resource(show_spinner="Clustering…", max_entries=32)
def clustering(path: str, mtime: float, k: int, method: str, seed: int):
    from dae_core.pipeline import cluster_codes

    return cluster_codes(codes(path, mtime), k, method, seed)


@st.cache_resource(show_spinner="Fitting the cluster mixture…", max_entries=8)
def _cluster_mixture(path: str, mtime: float):
    return LatentSampler("cluster:0").fit(codes(path, mtime).z_train)


@st.cache_resource(show_spinner="Fitting the sampler…", max_entries=32)
def sampler(path: str, mtime: float, kind: str):
    if kind.startswith("cluster:"):  # every cluster:K shares the one fitted 10-component mixture
        return _cluster_mixture(path, mtime).restrict(LatentSampler(kind).component)
    s = LatentSampler(kind)
    return s if kind == "uniform01" else s.fit(codes(path, mtime).z_train)


@st.cache_resource(show_spinner="Sweeping the noise strength…", max_entries=64)
def noise_sweep(path: str, mtime: float, noise: str, seed: int, n_images: int = 500):
    """(strengths, corrupted MSE, reconstruction MSE) over the first n_images test digits."""
    ck = checkpoint(path, mtime)
    images = digits(ck.config.dataset).test_images[:n_images]
    return (SWEEP_STRENGTHS, *sweep(ck.model, images, noise, SWEEP_STRENGTHS, seed))


@st.cache_resource(show_spinner="Projecting the codes with PCA…", max_entries=8)
def pca_map(path: str, mtime: float):
    """(idx, xy): every training code's position on its first two principal components."""
    from dae_core import embed

    z = codes(path, mtime).z_train
    return np.arange(len(z)), embed.pca_2d(z)


@st.cache_resource(show_spinner="Running t-SNE on a sample of the codes (about 10 s)…", max_entries=16)
def tsne_map(path: str, mtime: float, n: int, seed: int):
    """(idx, xy): t-SNE of n training codes drawn with `seed`."""
    from dae_core import embed

    return embed.tsne_2d(codes(path, mtime).z_train, n, seed)


@st.cache_resource(show_spinner="Clustering the raw pixels…", max_entries=16)
def pixel_baseline(path: str, mtime: float, k: int, seed: int, pca_dims: int | None):
    """(ClusterReport, seconds) of k-means on the pixels of the model's own training split."""
    from dae_core import embed
    from dae_core.cluster import score

    c, ck = codes(path, mtime), checkpoint(path, mtime)
    t = time.perf_counter()
    images = digits(ck.config.dataset).train_images[c.train_index].numpy()
    labels = embed.pixel_baseline(images, k, seed, pca_dims)
    return score(c.y_train, labels), time.perf_counter() - t


CLASSIFIER = ckpt_io.CHECKPOINT_DIR / "classifiers" / "mnist-cnn.pt"


@st.cache_resource(show_spinner="Loading the digit classifier…")
def classifier_and_reference():
    """(classifier, its (mu, sigma) on the 10k test images), or None when the file is missing/bad."""
    from dae_core.classifier import load_classifier
    from dae_core.quality import reference_stats

    try:
        clf = load_classifier(CLASSIFIER)
    except DaeError:
        return None
    return clf, reference_stats(clf)


@st.cache_resource(show_spinner="Scoring 1000 samples with the classifier…", max_entries=64)
def sample_quality(path: str, mtime: float, kind: str, n: int = 1000, seed: int = 0):
    """The quality dict (recognised, class_hist, entropy, IS, FID) of n samples of one sampler."""
    from dae_core.latent import decode
    from dae_core.quality import score_samples

    judged = classifier_and_reference()
    if judged is None:
        return None
    ck = checkpoint(path, mtime)
    images = decode(ck.model, sampler(path, mtime, kind).sample(n, seed, ck.config.latent_dim))
    return score_samples(judged[0], images, judged[1])
