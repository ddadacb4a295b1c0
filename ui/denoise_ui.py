"""Widget groups of the Denoise page: which test digits, which noise, a drawn digit; image rows."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import streamlit as st

from dae_core.analysis.denoise import MAX_PICK, parse_indices, pick_digits
from dae_core.analysis.quality import RECOGNISED_AT, top_class
from dae_core.config import NOISE_KINDS
from dae_core.errors import DaeError
from dae_core.evaluate import psnr
from dae_core.images import to_png

from . import url_state
from .cache import classifier
from .words import noise_name, plain

log = logging.getLogger(__name__)
STRENGTH_MAX = {"gaussian": 1.5, "salt_pepper": 1.0, "mask": 1.0}  # sigma 1.5 is already snow
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"]


def digits_ui(labels: np.ndarray) -> np.ndarray | None:
    """Test-digit indices chosen at random, by index or by class; None (with an error) if invalid."""
    how = st.radio("Test digits", ["random", "by index", "by class"], horizontal=True,
                   key="dn_how", persist_state="session")
    if how == "by index":
        text = st.text_input(f"Indices, 0-{len(labels) - 1} (up to {MAX_PICK})",
                             "0, 1, 2, 3, 4, 5, 6, 7", key="dn_indices", persist_state="session")
        try:
            return parse_indices(text, len(labels))
        except DaeError as e:
            log.info("test digits not picked: %s", e)
            st.error(plain(e))
            return None
    digit = st.selectbox("Digit", range(10), key="dn_digit",
                         persist_state="session") if how == "by class" else None
    left, right = st.columns(2)
    n = left.slider("How many", 1, 16, 8, key="dn_n", persist_state="session")
    seed = right.number_input("Pick seed", 0, 2**31 - 1, 0, key="dn_pick_seed",
                              persist_state="session")
    return pick_digits(labels, n, int(seed), digit)


def _default_strength(kind: str, config) -> float:
    """The strength a noise kind opens on: the model's own when it was trained with that kind."""
    return float(min(config.noise_strength, STRENGTH_MAX[kind]) if kind == config.noise else 0.3)


def _new_kind(config) -> None:
    """on_change of the noise kind: the strength starts over at the new kind's default (a σ is not
    a share of pixels). Set, not deleted: a deleted bound value would be read from the URL again."""
    st.session_state["strength"] = _default_strength(st.session_state["noise"], config)


def noise_ui(config) -> tuple[str, float, int]:
    """(noise kind, strength, noise seed), each bound to the URL; opens on the noise the model was
    trained with."""
    noise = url_state.chosen(st.selectbox, "Noise", NOISE_KINDS, NOISE_KINDS.index(config.noise),
                             key="noise", format_func=noise_name, on_change=_new_kind, args=(config,))
    # A default only while the session holds no strength: a value set through Session State (by
    # _new_kind) and a default as well draw Streamlit's warning, and the default would lose.
    default = None if "strength" in st.session_state else _default_strength(noise, config)
    strength = url_state.bound(st.slider, "Strength", 0.0, STRENGTH_MAX[noise], default,
                               step=0.05, key="strength",
                               help="Gaussian: the standard deviation σ; salt and pepper, "
                                    "mask: the share of pixels hit")
    seed = url_state.bound(st.number_input, "Noise seed", 0, 2**31 - 1, 0, key="noise_seed")
    return noise, float(strength), int(seed)


def image_row(title: str, images: np.ndarray, captions: list[str], scale: int = 4) -> None:
    """A bold title over one row of enlarged (28, 28) digits, each with its caption."""
    st.markdown(f"**{plain(title)}**")  # it may name a model or a file
    st.image([to_png(x, scale) for x in images], caption=captions, output_format="PNG")


def scores(mse: np.ndarray) -> list[str]:
    """One caption per image: its MSE and PSNR."""
    return [f"{m:.4f} · {psnr(m):.1f} dB" for m in mse]


def formatted(table: dict) -> pd.DataFrame:
    """A scores table as text: MSE to 4 decimals, PSNR to 1, the rest as it is."""
    return pd.DataFrame({name: [f"{v:.4f}" if name.startswith("MSE") else f"{v:.1f}" for v in values]
                         if name.startswith(("MSE", "PSNR")) else values for name, values in table.items()})


# An upload rebuilt with over 5x the model's error on test digits is unlike them: the threshold
# lies between the worst test digit's error and a random image's (docs/speed.md).
UNLIKE_ERROR = 5.0


def digit_warning(name: str, x: np.ndarray, mse: float, ck) -> str | None:
    """One line when the 28x28 image `x` does not look like a digit: the shipped digit classifier
    is unsure what it is, or the model rebuilds it (error `mse`) far worse than its test digits
    (the model card's test or validation error); None when it looks like one."""
    reasons = []
    clf = classifier()
    if clf is not None:
        digit, p = (v[0] for v in top_class(clf, x[None]))
        if p < RECOGNISED_AT:
            reasons.append(f"the digit classifier is only {p:.0%} sure it is a {digit}")
    typical = ck.metrics.get("test_mse", ck.metrics.get("val_mse"))
    if isinstance(typical, float) and typical > 0 and mse > UNLIKE_ERROR * typical:
        reasons.append(f"the model's error on it is {mse / typical:.0f}× its error on test digits")
    if not reasons:
        return None
    return (f"{plain(name)} does not look like a handwritten digit ({'; '.join(reasons)}): "
            "the model's attempt is shown anyway.")


def draw_ui() -> bytes | None:
    """PNG bytes of a digit drawn on a canvas, or None (nothing drawn, or no canvas installed)."""
    try:  # optional, and imported here: it registers a component, which needs a running app
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.caption("Install streamlit-drawable-canvas to draw a digit here.")
        return None
    st.markdown("**Or draw one** (white on black, like MNIST)")
    result = st_canvas(stroke_width=18, stroke_color="#ffffff", background_color="#000000",
                       height=224, width=224, drawing_mode="freedraw", return_image_data=True,
                       key="dn_canvas")
    drawn = (result.json_data or {}).get("objects")
    return result.image_bytes if drawn else None
