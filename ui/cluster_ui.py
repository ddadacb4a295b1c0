"""Widget groups of the Cluster page: its settings and scores, the clustering (cached or a Ray
job), baseline, map, the cluster -> digit table, the clickable confusion matrices and the cell
they pick."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dae_core.analysis import embed
from dae_core.analysis.cluster import METHODS
from ui.svg_cluster import confusion_svg

from . import background, cluster_cache, url_state
from .heatmap import clickable_svg, clicked_cell
from .words import markdown_frame, method_name, percent

K_RANGE, SEED_RANGE = range(2, 31), range(10_001)  # what the k and seed inputs take
SCORES = ("accuracy", "nmi", "ari")  # the fields of a cluster report, in display order
NAMES = ("Accuracy (Hungarian)", "NMI", "ARI")


def settings_ui() -> tuple[int, str, int]:
    """The k, method and seed widgets, each bound to the URL: (k, method, seed)."""
    c_k, c_method, c_seed = st.columns(3)
    k = url_state.bound(c_k.number_input, "Clusters k", K_RANGE[0], K_RANGE[-1], 10, key="k")
    method = url_state.chosen(c_method.selectbox, "Method", METHODS, 0, key="method",
                              format_func=method_name,
                              help="UMAP methods embed the codes to k dimensions first (N2D).")
    seed = url_state.bound(c_seed.number_input, "Seed", SEED_RANGE[0], SEED_RANGE[-1], 0, key="cluster_seed")
    return int(k), method, int(seed)


def shown(score: str, value: float) -> str:
    """A score as every page shows it: accuracy as a percent (71.7%), NMI and ARI to 3 decimals."""
    return percent(value) if score == "accuracy" else f"{value:.3f}"


def scores_row(names: tuple[str, str, str], train, test=None) -> None:
    """Accuracy, NMI and ARI of a cluster report side by side, under `names`; the test set's
    beside each when given."""
    tests = [None] * 3 if test is None else [getattr(test, s) for s in SCORES]
    for col, name, score, test_value in zip(st.columns(3), names, SCORES, tests):
        col.metric(name, shown(score, getattr(train, score)),
                   None if test_value is None else shown(score, test_value),
                   delta_color="off", delta_arrow="off",
                   delta_description="test set" if test_value is not None else None)


def seeds_table(spread: dict) -> dict:
    """summarize()'s mean and std per split and score, as 'mean ± std' columns for st.dataframe."""
    return {split: [f"{shown(m, spread[f'{split}_{m}_mean'])} ± {shown(m, spread[f'{split}_{m}_std'])}"
                    for m in SCORES] for split in ("train", "test")} \
        | {"score": ["accuracy", "NMI", "ARI"]}


PROJECTIONS = ("PCA (all points)", "UMAP (all points)", "t-SNE (2,000-point sample)")
PIXEL_INPUTS = {"50-d PCA of the pixels": 50, "raw pixels (784-d, slower)": None}  # -> PCA dims


def baseline_ui() -> tuple[bool, int | None, str]:
    """(compute the pixel baseline?, PCA dimensions or None for raw pixels, the input's label)."""
    c_input, c_run = st.columns([2, 1], vertical_alignment="bottom")
    pixels = c_input.radio("Input", list(PIXEL_INPUTS), horizontal=True, key="baseline_input",
                           persist_state="session")
    on = c_run.toggle("Compute the baseline", key="baseline_on", persist_state="session",
                      help="Same k and seed; cached.")
    return on, PIXEL_INPUTS[pixels], pixels


def map_ui() -> tuple[str, str]:
    """(projection label, 'true digit' or 'cluster') for the 2-D map of the codes."""
    c_proj, c_color = st.columns(2)
    projection = c_proj.radio("Projection", PROJECTIONS, horizontal=True, key="map_projection",
                              persist_state="session")
    color_by = c_color.radio("Colour by", ["true digit", "cluster"], horizontal=True,
                             key="map_color", persist_state="session")
    return projection, color_by


def clustering_ui(path: str, mtime: float, k: int, method: str, seed: int):
    """The ClusterResult: cached, computed here (k-means: seconds), or for GMM and the UMAP
    methods as a Ray job with its progress and Cancel (None until it is done)."""
    result = cluster_cache.cached_clustering(path, mtime, k, method, seed)
    if result is not None or method == "kmeans":
        return result or cluster_cache.clustering(path, mtime, k, method, seed)
    if method.startswith("umap"):
        # UMAP's fit runs for minutes, longer on a busy server: say so first (docs/speed.md)
        st.warning("UMAP can take several minutes on the 48k training codes, longer while the "
                   "server is busy (once; then it is cached).")
    runs = background.run("cluster", (path, mtime, k, method, seed), lambda: [
        cluster_cache.clustering_ask(path, mtime, k, method, seed)], f"{method_name(method)}, k={k}")
    return next(iter(runs.values())) if runs else None


def seeds_ui(path: str, mtime: float, k: int, method: str, seed: int) -> list | None:
    """ClusterResults of seeds seed, seed+1, seed+2 (those not cached as Ray jobs, with their
    progress and Cancel), or None until all are there."""
    seeds = [seed + i for i in range(3)]
    runs = {s: cluster_cache.cached_clustering(path, mtime, k, method, s) for s in seeds}
    if all(r is not None for r in runs.values()):
        return list(runs.values())
    fresh = background.run("cluster_seeds", (path, mtime, k, method, seed), lambda: [
        cluster_cache.clustering_ask(path, mtime, k, method, s) for s in seeds if runs[s] is None],
        "3 seeds")
    if fresh is None:
        return None
    runs |= {r.seed: r for r in fresh.values()}
    return list(runs.values())


def map_points(path: str, mtime: float, projection: str, seed: int):
    """(idx, xy) of the chosen map; UMAP and t-SNE, when not cached, as a Ray job (None until done)."""
    if projection == PROJECTIONS[0]:
        return cluster_cache.pca_map(path, mtime)
    kind, n, seed = ("umap", None, cluster_cache.UMAP_MAP_SEED) if projection == PROJECTIONS[1] else ("tsne", 2000, seed)
    found = cluster_cache.cached_map(path, mtime, kind, n, seed)
    if found is not None:
        return found
    label = {"umap": "UMAP map", "tsne": "t-SNE map"}[kind]
    points = background.run("cluster_map", (path, mtime, kind, seed), lambda: [
        cluster_cache.map_ask(path, mtime, kind, n, seed)], label)
    return next(iter(points.values())) if points else None


CELL = ("cell_digit", "cell_cluster")  # session_state keys of the cell shown (its dropdowns')


def mapping_table(report) -> pd.DataFrame:
    """One row per cluster: its size, matched digit, most common digit and purity (in %)."""
    table = pd.DataFrame(embed.cluster_table(report))
    table["purity"] *= 100
    return table[["cluster", "size", "digit", "majority", "purity"]]


TABLE_COLUMNS = {"cluster": "Cluster", "size": "Images", "digit": "Matched",
                 "majority": "Most common", "purity": "Purity"}
TABLE_WIDTH = 440  # px: wide enough for the cluster -> digit table's headers on one line
MATRIX_WIDTH = 470  # px: a 10 x 10 confusion matrix with 40-px cells


def mapping_table_ui(report) -> None:
    """The cluster -> digit table, and what its columns mean. A Markdown table: a data grid's or a
    table's JavaScript would be most of the browser's work on this page, for ten rows."""
    table = mapping_table(report)
    table = table.assign(size=table["size"].map("{:,}".format), purity=table["purity"].map("{:.1f}%".format))
    st.markdown(markdown_frame(table.rename(columns=TABLE_COLUMNS), right=len(TABLE_COLUMNS)))
    st.caption("**Purity**: the share of a cluster's images that are its most common digit. "
               "**Matched**: the digit the Hungarian matching gives the cluster (each digit "
               "to one cluster); where it is not the most common digit, that cluster's images "
               f"count as errors. Accuracy = images whose cluster is matched to their digit: "
               f"{percent(report.accuracy)}.")


def _pick_cell(key: str) -> None:
    """A click on a confusion heatmap: the clicked cell becomes the one shown (and its dropdowns' value)."""
    cell = clicked_cell(st.session_state.get(key))
    if cell is not None:
        st.session_state[CELL[0]], st.session_state[CELL[1]] = cell


def _fullest_cluster() -> None:
    """on_change of the digit dropdown: show the new digit's fullest cluster."""
    st.session_state.pop(CELL[1], None)


def current_cell(report) -> tuple[int, int]:
    """(true digit, cluster) shown: the last click or pick when this report has it, else the
    first digit and its fullest cluster; kept in the dropdowns' session_state keys."""
    state, digits = st.session_state, report.labels.tolist()
    if state.get(CELL[0]) not in digits:
        state[CELL[0]] = digits[0]
    if state.get(CELL[1]) not in report.clusters.tolist():
        state[CELL[1]] = embed.clusters_by_count(report, state[CELL[0]])[0][0]
    return state[CELL[0]], state[CELL[1]]


def confusion_ui(report) -> None:
    """The confusion matrix in matched and in raw cluster order, the shown cell outlined; a click
    on a cell shows that cell."""
    digit, cluster = current_cell(report)
    row = report.labels.tolist().index(digit)
    matrix, order = report.reordered()
    tabs = st.tabs(["Matched order (diagonal = correct)", "Raw cluster order"])
    charts = {"heat_matched": (matrix, [f"{c}→{report.mapping[int(c)]}" for c in order], order,
                               "Confusion after matching", "cluster→digit"),
              "heat_raw": (report.confusion, report.clusters, report.clusters,
                           "Confusion, clusters in their raw order", "cluster")}
    for tab, (key, (counts, names, ids, title, x_title)) in zip(tabs, charts.items()):
        svg = confusion_svg(counts, report.labels.tolist(), names, title, x_title=x_title,
                            ids=ids.tolist(), picked=(row, ids.tolist().index(cluster)))
        with tab:
            clickable_svg(svg, key, _pick_cell)
    st.caption("Click a cell to see its images below.")


def cell_ui(report) -> tuple[int, int]:
    """(true digit, cluster) of one confusion-matrix cell; the digit's fullest cluster first."""
    c_digit, c_cluster = st.columns(2)
    digit = c_digit.selectbox("True digit", report.labels.tolist(), key=CELL[0],
                              on_change=_fullest_cluster)
    counts = dict(embed.clusters_by_count(report, digit))
    cluster = c_cluster.selectbox("Cluster (most images of this digit first)", list(counts),
                                  key=CELL[1],
                                  format_func=lambda c: f"{c}, matched to {report.mapping[c]} "
                                                        f"({counts[c]:,} images of {digit})")
    return digit, cluster
