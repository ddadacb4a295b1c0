"""Widget groups of the Generate page: sampler and seed, latent sliders, interpolation, manifold."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dae_core.analysis.dials import class_digits
from dae_core.analysis.latent import DEFAULT_SAMPLER, SAMPLERS, class_dims_of

from . import background, cache, models, url_state
from .words import SAMPLERS as SAMPLER_NAMES
from .words import percent, sampler_name

COMPARED = ["uniform01", "box", "gaussian", "gmm"]  # the samplers of the comparison table

SAMPLER_HELP = "  \n".join(f"**{SAMPLER_NAMES[kind]}**: {what}" for kind, what in {
    "uniform01": "uniform over [0, 1]^d (the reference recipe)",
    "box": "uniform over the training codes' 1-99th percentile box",
    "gaussian": "one Gaussian fitted to the training codes",
    "gmm": "a 40-component Gaussian mixture fitted to the training codes",
    "cluster:K": "inside component K of a 10-component mixture; for a model with a digit part, "
                 "the digit dial: class K of that part, in random styles",
}.items())
SEED = "sample_seed"  # the seed's key and URL parameter ("seed" alone would meet Cluster's)


def _next_seed() -> None:
    st.session_state[SEED] = (st.session_state[SEED] + 1) % 2**31


def digit_dial_note(model, z_train: np.ndarray, y_train: np.ndarray, kind: str) -> str | None:
    """For a split model and a cluster:K sampler, which digit class K draws (its class matched to
    the digits on the training codes, as the Cluster page matches clusters); else None."""
    if class_dims_of(model) is None or not kind.startswith("cluster:"):
        return None
    k = int(kind.split(":", 1)[1])
    digit = class_digits(model, z_train, y_train).get(k)
    if digit is None:
        return f"No training code names class {k}: choose another."
    return (f"The digit dial: class {k} of the code's digit part, matched to the digit {digit} on "
            "the training codes; every sample is that digit in a style drawn at random.")


def sampler_ui() -> tuple[str, int]:
    """(sampler kind, e.g. 'gmm' or 'cluster:3', seed); 'New samples' moves the seed on by one.
    Each is kept in the URL (the sampler by its name, so a link reads `sampler=box`; the page
    shows it in words)."""
    kind_col, k_col, seed_col, button_col = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    kind = url_state.chosen(kind_col.selectbox, "Sampler", SAMPLERS, SAMPLERS.index(DEFAULT_SAMPLER),
                            key="sampler", format_func=sampler_name, help=SAMPLER_HELP)
    if kind == "cluster:K":
        component = url_state.bound(k_col.number_input, "Component K", 0, 9, 0, key="component")
        kind = f"cluster:{component}"
    # No default beyond the minimum, 0: 'New samples' sets the seed through Session State.
    seed = url_state.bound(seed_col.number_input, "Seed", 0, 2**31 - 1, key=SEED)
    button_col.button("New samples", on_click=_next_seed, key="gen_new")
    return kind, int(seed)


def _reset(keys: list[str], values: np.ndarray) -> None:
    for key, value in zip(keys, values):
        st.session_state[key] = float(value)


def latent_sliders(low: np.ndarray, high: np.ndarray, start: np.ndarray, scope: str) -> np.ndarray:
    """One slider per latent dimension over [low, high], opening at `start`: the code z (d,)."""
    keys = [f"gen_z{i}@{models.key_of(scope)}" for i in range(len(low))]  # per model: ranges differ
    for key, value in zip(keys, start):
        st.session_state.setdefault(key, float(value))
    z = [st.slider(f"z{i}", float(lo), float(hi), step=float(hi - lo) / 100, format="%.2f", key=key,
                   persist_state="session")
         for i, (lo, hi, key) in enumerate(zip(low, high, keys))]
    st.button("Back to the median code", on_click=_reset, args=(keys, start), key="gen_reset")
    return np.array(z, dtype=np.float32)


def manifold_ui(d: int, first: int = 0) -> tuple[tuple[int, int], int]:
    """((dimension across, dimension down), grid size n) for the manifold grid, opening on
    dimensions `first` and first + 1 (a split model's first two style numbers); needs d >= 2."""
    across_col, down_col, n_col = st.columns(3)
    i = across_col.selectbox("Across", range(d), first, format_func="z{}".format, key="gen_dim_x",
                                persist_state="session")
    j = down_col.selectbox("Down", range(d), first + 1, format_func="z{}".format, key="gen_dim_y",
                              persist_state="session")
    n = n_col.slider("Grid", 3, 15, 9, key="gen_grid_n", persist_state="session")
    return (int(i), int(j)), int(n)


def interpolation_ui(n_test: int) -> tuple[int, int, int]:
    """(test index a, test index b, number of steps) for the interpolation strip."""
    a_col, b_col, steps_col = st.columns(3)
    a = a_col.number_input("From test digit #", 0, n_test - 1, 0, key="gen_from",
                           persist_state="session")
    b = b_col.number_input("To test digit #", 0, n_test - 1, 1, key="gen_to",
                           persist_state="session")
    steps = steps_col.slider("Steps", 3, 20, 10, key="gen_steps", persist_state="session")
    return int(a), int(b), int(steps)


def quality_table(rows: dict) -> dict:
    """Sampler -> quality dict, as columns for st.dataframe."""
    return {"sampler": [sampler_name(kind) for kind in rows],
            "recognised": [percent(q["recognised"]) for q in rows.values()],
            "entropy (bits)": [round(q["class_entropy_bits"], 2) for q in rows.values()],
            "IS": [round(q["inception_score"], 2) for q in rows.values()],
            "FID": [round(q["frechet_distance"], 1) for q in rows.values()]}


def compare_ui(path: str, mtime: float) -> dict | None:
    """Sampler -> quality dict for COMPARED; those not scored yet are scored as Ray jobs, with
    their progress and Cancel (None until all are done)."""
    rows = cache.cached_quality(path, mtime, COMPARED)
    if rows is not None:
        return rows
    fresh = background.run("gen_compare", (path, mtime), lambda: cache.quality_asks(
        path, mtime, COMPARED), "Scoring 1000 samples of each sampler")
    if fresh is None:
        return None
    scored = {key[2]: quality for key, quality in fresh.items()}  # key: (model, "quality", kind, n, seed)
    return {kind: scored.get(kind) or cache.stored_quality(path, mtime, kind) for kind in COMPARED}
