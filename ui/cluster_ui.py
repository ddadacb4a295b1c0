"""Widget groups of the Cluster page: the clustering (cached or on a thread), baseline, map, cell.

Settings and scores are in ui.cluster_scores."""
from __future__ import annotations

import streamlit as st

from dae_core import embed

from . import background, cluster_cache

PROJECTIONS = ("PCA (all points)", "UMAP (all points)", "t-SNE (2,000-point sample)")
PIXEL_INPUTS = {"50-d PCA of the pixels": 50, "raw pixels (784-d, slower)": None}  # -> PCA dims


def baseline_ui() -> tuple[bool, int | None, str]:
    """(compute the pixel baseline?, PCA dimensions or None for raw pixels, the input's label)."""
    c_input, c_run = st.columns([2, 1], vertical_alignment="bottom")
    pixels = c_input.radio("Input", list(PIXEL_INPUTS), horizontal=True, key="baseline_input")
    on = c_run.toggle("Compute the baseline", key="baseline_on", help="Same k and seed; cached.")
    return on, PIXEL_INPUTS[pixels], pixels


def map_ui() -> tuple[str, str]:
    """(projection label, 'true digit' or 'cluster') for the 2-D map of the codes."""
    c_proj, c_color = st.columns(2)
    projection = c_proj.radio("Projection", PROJECTIONS, horizontal=True, key="map_projection")
    color_by = c_color.radio("Colour by", ["true digit", "cluster"], horizontal=True,
                             key="map_color")
    return projection, color_by


def clustering_ui(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult: cached, computed here (k-means, GMM: seconds), or for the UMAP methods on
    a thread with a progress bar and Cancel (None until it is done)."""
    result = cluster_cache.cached_clustering(path, mtime, k, method, seed)
    if result is not None or not method.startswith("umap"):
        return result or cluster_cache.clustering(path, mtime, k, method, seed)
    st.warning("UMAP takes about a minute on the 48k training codes (once; then it is cached).")
    work = cluster_cache.clustering_work(path, mtime, k, method, [seed])
    runs = background.run("cluster", (path, mtime, k, method, seed), work, f"{method}, k={k}")
    return runs[0] if runs else None


def seeds_ui(path: str, mtime: float, k: int, method: str, seed: int) -> list | None:
    """ClusterResults of seeds seed, seed+1, seed+2 (on a thread with progress and Cancel), or None."""
    seeds = [seed + i for i in range(3)]
    runs = [cluster_cache.cached_clustering(path, mtime, k, method, s) for s in seeds]
    if all(r is not None for r in runs):
        return runs
    work = cluster_cache.clustering_work(path, mtime, k, method, seeds)
    return background.run("cluster_seeds", (path, mtime, k, method, seed), work, "3 seeds")


def map_points(path: str, mtime: float, projection: str, seed: int):
    """(idx, xy) of the chosen map; UMAP and t-SNE, when not cached, on a thread (None until done)."""
    if projection == PROJECTIONS[0]:
        return cluster_cache.pca_map(path, mtime)
    kind, n, seed = ("umap", None, cluster_cache.UMAP_MAP_SEED) if projection == PROJECTIONS[1] else ("tsne", 2000, seed)
    found = cluster_cache.cached_map(path, mtime, kind, n, seed)
    if found is not None:
        return found
    work = cluster_cache.map_work(path, mtime, kind, n, seed)
    label = {"umap": "UMAP map", "tsne": "t-SNE map"}[kind]
    return background.run("cluster_map", (path, mtime, kind, seed), work, label)


def cell_ui(report) -> tuple[int, int]:
    """(true digit, cluster) of one confusion-matrix cell; the digit's fullest cluster first."""
    c_digit, c_cluster = st.columns(2)
    digit = c_digit.selectbox("True digit", report.labels.tolist(), key="cell_digit")
    counts = dict(embed.clusters_by_count(report, digit))
    cluster = c_cluster.selectbox("Cluster (most images of this digit first)", list(counts),
                                  format_func=lambda c: f"{c}, matched to {report.mapping[c]} "
                                                        f"({counts[c]:,} images of {digit})")
    return digit, cluster
