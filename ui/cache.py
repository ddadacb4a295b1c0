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


@st.cache_resource(show_spinner=False, max_entries=16)
def fingerprint(path: str, mtime: float) -> str:
    """The loaded model's content hash (weights and config): the key of its disk-cache entries."""
    from dae_core.store import fingerprint as model_fingerprint

    ck = checkpoint(path, mtime)
    return model_fingerprint(ck.model, ck.config)


@st.cache_resource(show_spinner="Encoding the training and test images…", max_entries=8)
def codes(path: str, mtime: float):
    """The model's Codes: from the disk cache when there (seconds 0.0), else encoded and stored."""
    from dae_core import store
    from dae_core.pipeline import encode_splits

    ck, fp = checkpoint(path, mtime), fingerprint(path, mtime)
    found = store.load_codes(fp, ck.config.latent_dim)
    if found is not None:
        return found
    digits(ck.config.dataset)
    out = encode_splits(ck.model, ck.config)
    store.save_codes(fp, out)
    return out


@st.cache_resource(show_spinner=False, max_entries=8)
def finished(path: str, mtime: float) -> dict:
    """Finished clusterings and maps of one checkpoint, shared by every session: key -> result.

    A plain dict, so that work on a session's thread can fill it; its values are never mutated.
    """
    return {}


def cached_clustering(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult from memory or the disk cache, or None when it has to be computed."""
    from dae_core import store

    done, key = finished(path, mtime), ("clustering", k, method, seed)
    if key not in done:
        found = store.load_clustering(fingerprint(path, mtime), codes(path, mtime), method, k, seed)
        if found is None:
            return None
        done[key] = found
    return done[key]


def clustering_work(path: str, mtime: float, k: int, method: str, seeds: list[int]):
    """work(report, stop) for ui.background: cluster (and store) with each seed, in turn, what is
    not cached; returns the ClusterResults. Resolves the cached inputs here, on the page's thread."""
    from dae_core import store
    from dae_core.cluster import STEPS
    from dae_core.pipeline import cluster_codes

    c, fp, done = codes(path, mtime), fingerprint(path, mtime), finished(path, mtime)
    ready = {s: cached_clustering(path, mtime, k, method, s) for s in seeds}
    steps = ["umap"] * method.startswith("umap") + [method.split("-")[-1], "test"]
    names = STEPS | {"test": "placing the test codes"}

    def work(report, stop):
        for i, s in enumerate(seeds):
            if ready[s] is not None:
                continue
            prefix = f"seed {s} ({i + 1} of {len(seeds)}): " if len(seeds) > 1 else ""
            stage = lambda step: report(prefix + names[step] + "…",  # noqa: E731
                                        (i + steps.index(step) / len(steps)) / len(seeds))
            ready[s] = cluster_codes(c, k, method, s, stage=stage, stop=stop)
            store.save_clustering(fp, c, ready[s])
            done[("clustering", k, method, s)] = ready[s]
        return [ready[s] for s in seeds]

    return work


def clustering(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult, computed here when not cached (with a spinner)."""
    found = cached_clustering(path, mtime, k, method, seed)
    if found is None:
        with st.spinner("Clustering…"):
            found = clustering_work(path, mtime, k, method, [seed])(lambda *a: None, None)[0]
    return found


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


UMAP_MAP_SEED = 0  # the UMAP map is one picture per model (the one shipped for the shipped models)


def _map_args(path: str, mtime: float, projection: str, n: int | None, seed: int):
    n_codes = len(codes(path, mtime).z_train)
    return fingerprint(path, mtime), projection, n_codes, n_codes if n is None else n, seed


def cached_map(path: str, mtime: float, projection: str, n: int | None = None, seed: int = 0):
    """(idx, xy) of a 'tsne' map of n codes or a 'umap' map of all (n=None), from memory or the
    disk cache; None when it has to be computed."""
    from dae_core import store

    done, key = finished(path, mtime), ("map", projection, n, seed)
    if key not in done:
        found = store.load_map(*_map_args(path, mtime, projection, n, seed))
        if found is None:
            return None
        done[key] = found
    return done[key]


def map_work(path: str, mtime: float, projection: str, n: int | None = None, seed: int = 0):
    """work(report, stop) for ui.background: draw (and store) the map; returns (idx, xy)."""
    from dae_core import embed, store
    from dae_core.cluster import check_stop

    z, args, done = codes(path, mtime).z_train, _map_args(path, mtime, projection, n, seed), finished(path, mtime)
    text = {"tsne": f"t-SNE of {args[3]:,} codes…", "umap": f"UMAP of {len(z):,} codes…"}[projection]

    def work(report, stop):
        check_stop(stop)
        report(text, 0.0)
        if projection == "tsne":
            idx, xy = embed.tsne_2d(z, args[3], seed)
        else:
            idx, xy = np.arange(len(z)), embed.umap_2d(z, seed)
        check_stop(stop)  # cancelled while it ran: drop the result
        store.save_map(*args, idx, xy)
        done[("map", projection, n, seed)] = (idx, xy)
        return idx, xy

    return work


def tsne_map(path: str, mtime: float, n: int, seed: int):
    """(idx, xy): t-SNE of n training codes drawn with `seed` (computed here when not cached)."""
    found = cached_map(path, mtime, "tsne", n, seed)
    if found is None:
        with st.spinner("Running t-SNE on a sample of the codes…"):
            found = map_work(path, mtime, "tsne", n, seed)(lambda *a: None, None)
    return found


def umap_map(path: str, mtime: float):
    """(idx, xy) of the model's UMAP map when cached (memory or disk), else None; never computes
    (store.umap_map is the same without Streamlit)."""
    return cached_map(path, mtime, "umap", None, UMAP_MAP_SEED)


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


def _quality(ck, fitted, judged, n: int, seed: int) -> dict:
    from dae_core.latent import decode
    from dae_core.quality import score_samples

    images = decode(ck.model, fitted.sample(n, seed, ck.config.latent_dim))
    return score_samples(judged[0], images, judged[1])


def sample_quality(path: str, mtime: float, kind: str, n: int = 1000, seed: int = 0):
    """The quality dict (recognised, class_hist, entropy, IS, FID) of n samples of one sampler
    (kept in memory for every session); None without the classifier."""
    judged, done = classifier_and_reference(), finished(path, mtime)
    if judged is None:
        return None
    if ("quality", kind, n, seed) not in done:
        with st.spinner(f"Scoring {n} samples with the classifier…"):
            fitted = sampler(path, mtime, kind)
            done[("quality", kind, n, seed)] = _quality(checkpoint(path, mtime), fitted, judged, n, seed)
    return done[("quality", kind, n, seed)]


def cached_quality(path: str, mtime: float, kinds: list[str], n: int = 1000, seed: int = 0):
    """kind -> quality dict when every kind's is in memory, else None."""
    done = finished(path, mtime)
    keys = {kind: ("quality", kind, n, seed) for kind in kinds}
    return {kind: done[k] for kind, k in keys.items()} if all(k in done for k in keys.values()) else None


def quality_work(path: str, mtime: float, kinds: list[str], n: int = 1000, seed: int = 0):
    """work(report, stop) for ui.background: fit and score each sampler in turn; kind -> quality."""
    from dae_core.cluster import check_stop

    ck, z, judged, done = checkpoint(path, mtime), codes(path, mtime).z_train, \
        classifier_and_reference(), finished(path, mtime)

    def work(report, stop):
        for i, kind in enumerate(kinds):
            check_stop(stop)
            if ("quality", kind, n, seed) not in done:
                report(f"fitting and scoring {kind} ({i + 1} of {len(kinds)})…", i / len(kinds))
                fitted = LatentSampler(kind) if kind == "uniform01" else LatentSampler(kind).fit(z)
                done[("quality", kind, n, seed)] = _quality(ck, fitted, judged, n, seed)
        return {kind: done[("quality", kind, n, seed)] for kind in kinds}

    return work
