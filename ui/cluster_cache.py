"""Clusterings and 2-D maps of a model's codes, through the result cache (dae_core.store), and
the pixel baseline they are judged by.

Nothing here is recomputed while the result cache holds it. Work that can take long comes as an
Ask for ui.background (a job), so the page shows its progress and can cancel it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import streamlit as st

from dae_core import store
from dae_core.analysis import embed
from dae_core.analysis.cluster import score
from dae_core.analysis.embed import MAP, map_params
from dae_core.analysis.latent import class_dims_of
from dae_core.analysis.pipeline import CLUSTERING, clustered, clustering_params

from .background import Ask
from .cache import busy, checkpoint, codes, digits, fingerprint, heavy


def ask_key(fp: str, kind: str, params: dict) -> tuple:
    """An Ask's key: hashable whatever the params hold (a split model's class_dims is a list)."""
    return fp, kind, json.dumps(params, sort_keys=True)


def _clustering_params(path: str, mtime: float, k: int, method: str, seed: int) -> dict:
    return clustering_params(codes(path, mtime), method, k, seed, class_dims_of(checkpoint(path, mtime).model))


def cached_clustering(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult from the result cache, or None when it has to be computed."""
    return store.get(CLUSTERING, fingerprint(path, mtime),
                     _clustering_params(path, mtime, k, method, seed))


def clustering_ask(path: str, mtime: float, k: int, method: str, seed: int) -> Ask:
    """The clustering of the model's codes as a job (ui.background); read back from the cache."""
    fp, params = fingerprint(path, mtime), _clustering_params(path, mtime, k, method, seed)
    spec = {"kind": "clustering", "checkpoint": path, "k": k, "method": method, "seed": seed, "model": fp,
            "class_dims": class_dims_of(checkpoint(path, mtime).model)}
    return Ask(ask_key(fp, "clustering", params), spec, fp,
               f"{method}, k={k}, seed {seed} of {Path(path).name}",
               lambda: cached_clustering(path, mtime, k, method, seed))


def clustering(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult, computed here when not cached (quick methods: k-means, with a spinner)."""
    return clustered(codes(path, mtime), fingerprint(path, mtime), k, method, seed,
                     lambda: busy("Clustering…", f"{method}, k={k}"),
                     class_dims_of(checkpoint(path, mtime).model))


@st.cache_resource(show_spinner="Projecting the codes with PCA…", max_entries=8)
def pca_map(path: str, mtime: float):
    """(idx, xy): every training code's position on its first two principal components."""
    z = codes(path, mtime).z_train
    return np.arange(len(z)), embed.pca_2d(z)


UMAP_MAP_SEED = 0  # the UMAP map is one picture per model (the one shipped for the shipped models)


def _map_params(path: str, mtime: float, projection: str, n: int | None, seed: int) -> dict:
    return map_params(projection, len(codes(path, mtime).z_train), n, seed)


def cached_map(path: str, mtime: float, projection: str, n: int | None = None, seed: int = 0):
    """(idx, xy) of a 'tsne' map of n codes or a 'umap' map of all (n=None), from the result
    cache; None when it has to be computed."""
    return store.get(MAP, fingerprint(path, mtime), _map_params(path, mtime, projection, n, seed))


def map_ask(path: str, mtime: float, projection: str, n: int | None = None, seed: int = 0) -> Ask:
    """The map as a job (ui.background): (idx, xy), read back from the cache."""
    fp, params = fingerprint(path, mtime), _map_params(path, mtime, projection, n, seed)
    spec = {"kind": "map", "checkpoint": path, "projection": projection, "n": n, "seed": seed, "model": fp}
    return Ask(ask_key(fp, "map", params), spec, fp,
               f"{projection} map of {params['n']:,} codes, seed {seed}, of {Path(path).name}",
               lambda: cached_map(path, mtime, projection, n, seed))


def umap_map(path: str, mtime: float):
    """(idx, xy) of the model's UMAP map when cached, else None; never computes."""
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
