"""Cached clusterings and 2-D maps of a model's codes, and the pixel baseline they are judged by.

Each result is kept in memory for every session (ui.cache.finished, a bounded LRU) and, for
clusterings and maps, on disk (dae_core.clustering_store, dae_core.store), keyed by the model's
content; nothing here is recomputed while a cached copy is valid. Work that can take long comes
as work(report, stop) for ui.background, so the page shows progress and can cancel it.
"""
from __future__ import annotations

import time

import numpy as np
import streamlit as st

from .cache import checkpoint, codes, digits, finished, fingerprint


def cached_clustering(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult from memory or the disk cache, or None when it has to be computed."""
    from dae_core import clustering_store

    done, key = finished(path, mtime), ("clustering", k, method, seed)
    found = done.get(key)
    if found is None:
        found = clustering_store.load_clustering(fingerprint(path, mtime), codes(path, mtime),
                                                 method, k, seed)
        if found is not None:
            done[key] = found
    return found


def clustering_work(path: str, mtime: float, k: int, method: str, seeds: list[int]):
    """work(report, stop) for ui.background: cluster (and store) with each seed, in turn, what is
    not cached; returns the ClusterResults. Resolves the cached inputs here, on the page's thread."""
    from dae_core import clustering_store
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
            clustering_store.save_clustering(fp, c, ready[s])
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
    found = done.get(key)
    if found is None:
        found = store.load_map(*_map_args(path, mtime, projection, n, seed))
        if found is not None:
            done[key] = found
    return found


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


def umap_map(path: str, mtime: float):
    """(idx, xy) of the model's UMAP map when cached (memory or disk), else None; never computes
    (store.load_map reads the same entry without Streamlit)."""
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
