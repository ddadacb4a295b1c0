"""Generate: decode sampled codes, steer one digit with the latent sliders, interpolate, map."""
import numpy as np
import streamlit as st

from dae_core.analysis.latent import decode, interpolate, manifold_grid, slider_ranges
from dae_core.errors import DaeError
from dae_core.figures import grid_image
from dae_core.images import to_png
from ui import cache, explorer, sidebar
from ui.gen_ui import (
    compare_ui,
    digit_dial_note,
    interpolation_ui,
    latent_sliders,
    manifold_ui,
    quality_table,
    sampler_ui,
)
from ui.svg import class_bars
from ui.words import percent, plain, sampler_name

st.set_page_config(page_title="Generate · DAE Lab", layout="wide")
ck = sidebar.require_checkpoint()
key = cache.file_key(ck.path)
codes = cache.codes(*key)
d = ck.config.latent_dim
low, high, median = slider_ranges(codes.z_train)

st.title("Generate")
st.caption(f"Model **{plain(ck.name)}**: every digit here is decoded from a {d}-number code z.")

st.subheader("Samples")
kind, seed = sampler_ui()
try:
    z = cache.sampler(*key, kind).sample(9, seed, d)
except DaeError as e:  # e.g. a class of a weak model's digit part that no training code names
    st.warning(plain(e))
    st.stop()
st.image(to_png(grid_image(decode(ck.model, z), nrow=3), scale=5), output_format="PNG",
         caption=f"9 codes drawn from {sampler_name(kind)}, seed {seed}")
note = digit_dial_note(ck.model, codes.z_train, codes.y_train, kind)
if note:
    st.caption(note)
explorer.sample_ui(key[0], z, low, high)


quality = cache.sample_quality(*key, kind) if ck.config.dataset == "mnist" else None
if quality is not None:
    accuracy = cache.classifier().metrics.get("test_accuracy", float("nan"))
    st.caption(f"Scored by the shipped digit classifier ({percent(accuracy)} test accuracy) on "
               "1000 samples of this sampler: recognised = classified with confidence ≥ 90%; FID "
               "to the test set.")
    q_cols = st.columns(4)
    q_cols[0].metric("Recognised", percent(quality["recognised"]))
    q_cols[1].metric("Class entropy", f"{quality['class_entropy_bits']:.2f} bits", help="max 3.32")
    q_cols[2].metric("Inception score", f"{quality['inception_score']:.2f}", help="max 10")
    q_cols[3].metric("FID", f"{quality['frechet_distance']:.1f}", help="lower is better")
    hist_col, compare_col = st.columns(2)
    hist_col.image(class_bars(np.array(quality["class_hist"]), "Predicted digit of 1000 samples"))
    if compare_col.toggle("Compare all samplers", key="gen_compare", persist_state="session"):
        with compare_col:
            rows = compare_ui(*key)
        if rows:
            compare_col.dataframe(quality_table(rows), hide_index=True)


@st.fragment
def latent_explorer():
    """The in-browser explorer (where it cannot run: sliders -> one digit decoded here), and the
    manifold around its code; a release reruns only this part."""
    explorer.start_ui(key[0], codes.z_test, codes.y_test, low, high)
    z = explorer.latent_explorer(*key, median)
    if z is not None:
        grid_col = st.container()
    else:
        st.caption(explorer.fallback_notice(d))
        slider_col, preview_col, grid_col = st.columns([1, 1, 1.3])
        with slider_col:
            z = latent_sliders(low, high, median, scope=key[0])
        preview_col.image(to_png(decode(ck.model, z[None])[0], scale=8), output_format="PNG",
                          caption="z = (" + ", ".join(f"{v:.2f}" for v in z) + ")")
    explorer.remember(key[0], z)
    with grid_col:
        if d < 2:
            st.info("The manifold grid needs a model with at least two latent dimensions.")
            return
        style = ck.parts.get("style", [])
        dims, n = manifold_ui(d, style[0] if len(style) >= 2 else 0)
        try:
            grid = decode(ck.model, manifold_grid(z, dims, low, high, n))
        except DaeError as e:
            st.warning(plain(e))
            return
        st.image(to_png(grid_image(grid, nrow=n), scale=2), width="stretch", output_format="PNG",
                 caption=f"z{dims[0]} left → right, z{dims[1]} bottom → top, "
                         "the others at the sliders' values")


st.subheader("Latent sliders")
st.caption("In the explorer, choose a digit, then turn its style: each style slider spans the "
           "1st-99th percentile of that number over the training codes of the chosen digit."
           if ck.parts else
           "Each slider spans the 1st-99th percentile of that dimension over the training codes.")
latent_explorer()

st.subheader("Interpolation")
a, b, steps = interpolation_ui(len(codes.z_test))
z_a, from_text = explorer.interpolation_start(key[0], codes.z_test[a], f"test #{a} (a {codes.y_test[a]})")
strip = decode(ck.model, interpolate(z_a, codes.z_test[b], steps))
st.image(to_png(grid_image(strip, nrow=steps), scale=3), output_format="PNG",
         caption=f"{from_text} → test #{b} (a {codes.y_test[b]}), "
                 f"{steps} steps on the straight line between their codes")
