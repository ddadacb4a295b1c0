"""The Cluster page's settings and score metrics. Light on purpose (no PyTorch, no scikit-learn):
a clustering kept on disk shows its scores while the rest of the page is still importing."""
from __future__ import annotations

import os

import streamlit as st

from dae_core.analysis.cluster import METHODS

from . import url_state
from .words import method_name, percent

K_RANGE, SEED_RANGE = range(2, 31), range(0, 10_001)  # what the k and seed inputs take
SCORES = ("accuracy", "nmi", "ari")  # the fields of a cluster report, in display order
NAMES = ("Accuracy (Hungarian)", "NMI", "ARI")


def settings() -> tuple[int, str, int]:
    """k, method and seed for this run (the session's, else a link's), read before settings_ui
    draws the widgets that hold them, so that stored scores can show first."""
    return (url_state.peek("k", 10, K_RANGE), url_state.peek("method", METHODS[0], METHODS),
            url_state.peek("cluster_seed", 0, SEED_RANGE))


def settings_ui(box) -> tuple[int, str, int]:
    """The k, method and seed widgets, in `box`, each bound to the URL: (k, method, seed)."""
    c_k, c_method, c_seed = box.columns(3)
    k = url_state.bound(c_k.number_input, "Clusters k", K_RANGE[0], K_RANGE[-1], 10, key="k")
    method = url_state.chosen(c_method.selectbox, "Method", METHODS, 0, key="method",
                              format_func=method_name,
                              help="UMAP methods embed the codes to k dimensions first (N2D).")
    seed = url_state.bound(c_seed.number_input, "Seed", SEED_RANGE[0], SEED_RANGE[-1], 0, key="cluster_seed")
    return int(k), method, int(seed)


def shown(score: str, value: float) -> str:
    """A score as every page shows it: accuracy as a percent (71.7%), NMI and ARI to 3 decimals."""
    return percent(value) if score == "accuracy" else f"{value:.3f}"


def metric(col, name: str, score: str, train: float, test: float | None) -> None:
    """One score in `col`: the training split's value, the test set's beside it when given."""
    col.metric(name, shown(score, train), None if test is None else shown(score, test),
               delta_color="off", delta_arrow="off",
               delta_description="test set" if test is not None else None)


def scores_row(names: tuple[str, str, str], train, test=None) -> None:
    """Accuracy, NMI and ARI of a cluster report (or store.Scores) side by side, under `names`."""
    tests = [None] * 3 if test is None else [getattr(test, s) for s in SCORES]
    for col, name, score, test_value in zip(st.columns(3), names, SCORES, tests):
        metric(col, name, score, getattr(train, score), test_value)


def seeds_table(spread: dict) -> dict:
    """summarize()'s mean and std per split and score, as 'mean ± std' columns for st.dataframe."""
    return {split: [f"{shown(m, spread[f'{split}_{m}_mean'])} ± {shown(m, spread[f'{split}_{m}_std'])}"
                    for m in SCORES] for split in ("train", "test")} \
        | {"score": ["accuracy", "NMI", "ARI"]}


def early_scores(slot, path: str | None, k: int, method: str, seed: int) -> None:
    """Draw in `slot` the scores of this clustering when the disk cache holds it for the file at
    `path`, found without loading the checkpoint; the page redraws them once it has checked the
    whole entry (or clears them, should it fail the check)."""
    try:
        found = path and _stored_scores(path, os.stat(path).st_mtime, method, k, seed)
    except OSError:
        return
    if found:
        with slot.container():
            scores_row(NAMES, *found)


@st.cache_resource(show_spinner=False, max_entries=32)
def _stored_scores(path: str, mtime: float, method: str, k: int, seed: int):
    return None  # the scores are drawn once the page has the clustering
