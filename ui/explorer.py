"""The latent explorer: a components.v2 component that decodes in the browser while you drag.

The selected model's decoder goes to the page as plain arrays (ui.export) and runs in
ui/explorer/explorer.js on every slider or pad movement; Python hears only the final code, on
release. Set DAE_EXPLORER=off to use the server-side sliders instead.
"""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import streamlit as st

from dae_core.analysis.dials import dial_settings
from dae_core.analysis.latent import slider_ranges
from dae_core.figures import grid_image
from dae_core.images import to_png
from dae_core.settings import settings
from ui.export import decoder_arrays, map_positions, pad_map

from . import cache, cluster_cache, models

ASSETS = Path(__file__).resolve().parent / "explorer"
PAD_POINTS = 2000  # training codes drawn on the pad and used by its lift (sent to the browser)
SPRITE_COLS = 50  # the drawn codes' images, 50 to a row in one PNG

_component = st.components.v2.component(
    "dae_latent_explorer",
    css=(ASSETS / "explorer.css").read_text(),
    js=(ASSETS / "explorer.js").read_text(),
)


def enabled() -> bool:
    """False when $DAE_EXPLORER turns the in-browser explorer off."""
    return settings().explorer


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _pad(m: dict, z_train: np.ndarray, y_train: np.ndarray, umap) -> dict:
    """The pad's drawn codes m["idx"] with their labels and positions: on the principal components
    of pad_map `m` (projection "pca", with its mean and axes), or where the cached UMAP map
    `umap` (idx, xy) of all training codes puts them (projection "umap")."""
    pad = {"codes": _b64(z_train[m["idx"]].astype(np.float32)),
           "labels": _b64(y_train[m["idx"]].astype(np.uint8))}
    if umap is not None:
        return {**pad, "projection": "umap", "xy": _b64(map_positions(m["idx"], *umap))}
    return {**pad, "projection": "pca", "xy": _b64(m["xy"]),
            "mean": m["mean"].tolist(), "axes": m["axes"].tolist()}


def build_payload(model, z_train: np.ndarray, y_train: np.ndarray, images: np.ndarray,
                  name: str, umap=None) -> dict:
    """Everything the component needs for one model, JSON-ready: its decoder, the slider ranges,
    the pad's PAD_POINTS training codes (positions, codes, labels) and their images (uint8). The
    pad is drawn on the codes' UMAP map when `umap` (idx, xy) is given, else on their PCA. A split
    model also gets its dials: a digit to choose, and sliders for the style alone."""
    low, high, median = (np.asarray(a, np.float64) for a in slider_ranges(z_train))
    m = pad_map(z_train, PAD_POINTS)
    sprite = grid_image(np.asarray(images)[m["idx"]] / 255.0, nrow=SPRITE_COLS, pad=0)
    dials = dial_settings(model, z_train, y_train)
    return {"dials": None if dials is None else {k: np.asarray(v).tolist() for k, v in dials.items()},
        "model": name, "d": int(z_train.shape[1]),
        "low": low.tolist(), "high": high.tolist(), "median": median.tolist(),
        "weights": {k: {"shape": list(v.shape), "b64": _b64(v)}
                    for k, v in decoder_arrays(model).items()},
        "pad": _pad(m, z_train, y_train, umap),
        "sprite": "data:image/png;base64," + base64.b64encode(to_png(sprite)).decode("ascii"),
        "sprite_cols": SPRITE_COLS,
    }


@st.cache_resource(show_spinner="Preparing the in-browser decoder…", max_entries=8)
def payload(path: str, mtime: float, projection: str = "pca") -> dict:
    """build_payload for a checkpoint file (its size: docs/explorer.md); its pad on the cached
    UMAP map when projection is "umap" (and one is cached), else on PCA."""
    ck, c = cache.checkpoint(path, mtime), cache.codes(path, mtime)
    images = cache.digits(ck.config.dataset).train_images[c.train_index].numpy()
    umap = cluster_cache.umap_map(path, mtime) if projection == "umap" else None
    return build_payload(ck.model, c.z_train, c.y_train, images, f"{Path(path).name}@{mtime}", umap)


def pad_map_ui(path: str, mtime: float) -> str:
    """'Pad map: PCA | UMAP', shown only when the model's UMAP map is cached (memory or disk;
    never computed here): the pad's projection, "umap" unless PCA is chosen."""
    if cluster_cache.umap_map(path, mtime) is None:
        return "pca"
    choice = st.segmented_control("Pad map", ["PCA", "UMAP"], default="UMAP", required=True,
                                  key="gen_pad_map", persist_state="session",
                                  help="UMAP (cached for this model) separates the digits; "
                                       "on PCA the marker is the code's exact projection")
    return "pca" if choice == "PCA" else "umap"


def push(scope: str, z: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """Make the explorer of checkpoint `scope` jump to code z (on the next run); the server-side
    sliders, where they show instead, take z clipped to their ranges [low, high]."""
    old = st.session_state.get(f"explorer_push@{scope}", {"rev": -1})
    st.session_state[f"explorer_push@{scope}"] = {"rev": old["rev"] + 1,
                                                  "z": np.asarray(z, np.float64).tolist()}
    for i, value in enumerate(np.clip(z, low, high)):  # the keys of ui.gen_ui.latent_sliders
        st.session_state[f"gen_z{i}@{models.key_of(scope)}"] = float(value)


def latent_explorer(path: str, mtime: float, median: np.ndarray) -> np.ndarray | None:
    """Mount the explorer; the code (d,) it last released, or None when it cannot run here (then
    the page shows the server-side sliders)."""
    if not enabled() or st.session_state.get("explorer_failed") or len(median) < 2:
        return None  # the pad needs two dimensions
    projection = pad_map_ui(path, mtime)
    pushed = st.session_state.get(f"explorer_push@{path}")
    slot = st.empty()
    with slot:
        result = _component(data={**payload(path, mtime, projection), "start": pushed},
                            key=f"explorer@{models.key_of(path)}",
                            default={"code": None, "failed": None},
                            height="content", on_code_change=lambda: None,
                            on_failed_change=lambda: None)
    if result.get("failed"):
        st.session_state["explorer_failed"] = str(result["failed"])
        slot.empty()
        return None
    released = result.get("code")
    if pushed and (not released or released["rev"] < pushed["rev"]):
        return np.asarray(pushed["z"], np.float32)
    return np.asarray(released["z"] if released else median, np.float32)


def fallback_notice(d: int) -> str:
    """One line on why the server-side sliders show instead of the explorer."""
    failed = st.session_state.get("explorer_failed")
    if d < 2:
        return "The in-browser explorer needs a code of two numbers or more: these sliders decode on the server."
    if failed:
        return f"The in-browser explorer could not start ({failed}): these sliders decode on the server."
    return "The in-browser explorer is off ($DAE_EXPLORER): these sliders decode on the server."


def start_ui(scope: str, z_test: np.ndarray, y_test: np.ndarray, low, high) -> None:
    """'Start from test digit #i': the explorer jumps to that digit's code."""
    num_col, button_col, _ = st.columns([1, 1, 2], vertical_alignment="bottom")
    i = int(num_col.number_input("Test digit #", 0, len(z_test) - 1, 0, key="explorer_test",
                                 persist_state="session"))
    button_col.button(f"Start from test digit #{i} (a {y_test[i]})", key="explorer_start",
                      on_click=push, args=(scope, z_test[i], low, high))


def sample_ui(scope: str, z: np.ndarray, low, high) -> None:
    """'Explore sample #k' under the sample grid: the explorer jumps to that sample's code."""
    k_col, button_col, _ = st.columns([1, 1, 2], vertical_alignment="bottom")
    k = int(k_col.number_input("Sample #", 1, len(z), 1, key="explorer_sample",
                               persist_state="session"))
    button_col.button(f"Explore sample #{k}", key="explorer_sample_go", on_click=push,
                      args=(scope, z[k - 1], low, high))


def remember(scope: str, z: np.ndarray) -> None:
    """Keep the explorer's current code for the rest of the page; when the interpolation starts
    from it and it changed, rerun the whole page (a release reruns only the explorer's part)."""
    key, code = f"explorer_code@{scope}", np.asarray(z, np.float32).tolist()
    changed = st.session_state.get(key) != code
    st.session_state[key] = code
    if changed and st.session_state.get("explorer_interp"):
        st.rerun(scope="app")


def interpolation_start(scope: str, z_a: np.ndarray, label: str) -> tuple[np.ndarray, str]:
    """(code, its description) the interpolation starts from: the explorer's current code when
    'From the explorer's code' is on, else z_a described by `label`."""
    code = st.session_state.get(f"explorer_code@{scope}")
    interp = st.toggle("From the explorer's code", key="explorer_interp", persist_state="session")
    if interp and code is not None:
        return np.asarray(code, np.float32), "the explorer's code"
    return z_a, label
