"""Cached clusterings and 2-D maps of a model's codes, and the pixel baseline they are judged by.

Each result is kept in memory for every session (ui.cache.finished, a bounded LRU) and, for
clusterings and maps, on disk (dae_core.clustering_store, dae_core.store), keyed by the model's
content; nothing here is recomputed while a cached copy is valid. Work that can take long comes
as an Ask for ui.background (a job), so the page shows its progress and can cancel it.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from dae_core import clustering_store, store
from dae_core.analysis import embed
from dae_core.analysis.cluster import score
from dae_core.analysis.pipeline import cluster_codes

from .background import Ask
from .cache import checkpoint, codes, digits, fingerprint, finished, heavy


def cached_clustering(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult from memory or the disk cache, or None when it has to be computed."""
    done, key = finished(path, mtime), ("clustering", k, method, seed)
    found = done.get(key)
    if found is None:
        found = clustering_store.load_clustering(fingerprint(path, mtime), codes(path, mtime),
                                                 method, k, seed)
        if found is not None:
            done[key] = found
    return found


def _clustering_key(path: str, mtime: float, k: int, method: str, seed: int) -> tuple:
    c = codes(path, mtime)  # the disk entry's key: the model, the settings, the split's sizes
    return fingerprint(path, mtime), "clustering", method, k, seed, len(c.z_train), len(c.z_test)


def _keep_clustering(path: str, mtime: float):
    """keep(result): a fresh ClusterResult into the disk cache and the shared memory LRU."""
    c, fp, done = codes(path, mtime), fingerprint(path, mtime), finished(path, mtime)

    def keep(result) -> None:
        clustering_store.save_clustering(fp, c, result)
        done[("clustering", result.k, result.method, result.seed)] = result

    return keep


def clustering_ask(path: str, mtime: float, k: int, method: str, seed: int) -> Ask:
    """The clustering of the model's codes as a job (ui.background); read back from the cache."""
    spec = {"kind": "clustering", "checkpoint": path, "k": k, "method": method, "seed": seed}
    return Ask(_clustering_key(path, mtime, k, method, seed), spec, fingerprint(path, mtime),
               f"{method}, k={k}, seed {seed} of {Path(path).name}",
               lambda: cached_clustering(path, mtime, k, method, seed))


def clustering(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult, computed here when not cached (quick methods: k-means, with a spinner)."""
    found = cached_clustering(path, mtime, k, method, seed)
    if found is None:
        with st.spinner("Clustering…"):
            c = codes(path, mtime)
            with heavy(f"{method}, k={k}"):
                found = cluster_codes(c, k, method, seed)
        _keep_clustering(path, mtime)(found)
    return found


@st.cache_resource(show_spinner="Projecting the codes with PCA…", max_entries=8)
def pca_map(path: str, mtime: float):
    """(idx, xy): every training code's position on its first two principal components."""
    z = codes(path, mtime).z_train
    return np.arange(len(z)), embed.pca_2d(z)


UMAP_MAP_SEED = 0  # the UMAP map is one picture per model (the one shipped for the shipped models)


def _map_args(path: str, mtime: float, projection: str, n: int | None, seed: int):
    n_codes = len(codes(path, mtime).z_train)
    return fingerprint(path, mtime), projection, n_codes, n_codes if n is None else n, seed


def cached_map(path: str, mtime: float, projection: str, n: int | None = None, seed: int = 0):
    """(idx, xy) of a 'tsne' map of n codes or a 'umap' map of all (n=None), from memory or the
    disk cache; None when it has to be computed."""
    done, key = finished(path, mtime), ("map", projection, n, seed)
    found = done.get(key)
    if found is None:
        found = store.load_map(*_map_args(path, mtime, projection, n, seed))
        if found is not None:
            done[key] = found
    return found


def map_ask(path: str, mtime: float, projection: str, n: int | None = None, seed: int = 0) -> Ask:
    """The map as a job (ui.background): (idx, xy), read back from the cache."""
    args = _map_args(path, mtime, projection, n, seed)
    spec = {"kind": "map", "checkpoint": path, "projection": projection, "n": n, "seed": seed}
    return Ask(("map", *args), spec, args[0], f"{projection} map of {args[3]:,} codes, seed {seed}, of {Path(path).name}",
               lambda: cached_map(path, mtime, projection, n, seed))


def umap_map(path: str, mtime: float):
    """(idx, xy) of the model's UMAP map when cached (memory or disk), else None; never computes
    (store.load_map reads the same entry without Streamlit)."""
    return cached_map(path, mtime, "umap", None, UMAP_MAP_SEED)


@st.cache_resource(show_spinner="Clustering the raw pixels…", max_entries=16)
def pixel_baseline(path: str, mtime: float, k: int, seed: int, pca_dims: int | None):
    """(ClusterReport, seconds) of k-means on the pixels of the model's own training split."""
    c, ck = codes(path, mtime), checkpoint(path, mtime)
    t = time.perf_counter()
    images = digits(ck.config.dataset).train_images[c.train_index].numpy()
    with heavy("k-means on pixels"):
        labels = embed.pixel_baseline(images, k, seed, pca_dims)
    return score(c.y_train, labels), time.perf_counter() - t
