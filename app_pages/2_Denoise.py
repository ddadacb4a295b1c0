"""Denoise: corrupt test digits (or your own) and reconstruct them; error against noise strength."""
import logging
from pathlib import Path

import streamlit as st

from dae_core.analysis.denoise import corrupt_and_reconstruct, denoise
from dae_core.errors import DaeError, file_label
from dae_core.images import ImageError, load_digit
from ui import cache, models, sidebar
from ui.denoise_ui import UPLOAD_TYPES, digit_warning, digits_ui, draw_ui, formatted, image_row, noise_ui, scores
from ui.svg import noise_sweep_svg
from ui.words import markdown_frame, noise_name, plain

st.set_page_config(page_title="Denoise · DAE Lab", layout="wide")
log = logging.getLogger("app_pages.denoise")
ck = sidebar.require_checkpoint()
digits = cache.digits(ck.config.dataset)
labels = digits.test_labels.numpy()

st.title("Denoise")
st.caption(f"Model **{plain(ck.name)}**, trained on {noise_name(ck.config.noise)} noise of strength "
           f"{ck.config.noise_strength}. Corrupt test digits, reconstruct them, compare models.")
pick_col, noise_col = st.columns(2)
with pick_col:
    idx = digits_ui(labels)
with noise_col:
    noise, strength, seed = noise_ui(ck.config)
others = {name: p for name, p in models.available().items() if Path(p) != ck.path}
compare = st.multiselect("Compare with other models (same corrupted digits)", list(others),
                         key="dn_compare", persist_state="session",
                         placeholder="Choose models" if others else
                         "No other model yet: train one on the Train page")
if idx is None:
    st.stop()

res = corrupt_and_reconstruct(ck.model, digits.test_images[idx], noise, strength, seed)
rows = {}  # model name -> (x_hat, mse) of the other models, on the same noisy inputs
for name in compare:
    try:
        rows[name] = denoise(cache.load_checkpoint(others[name]).model, res.x, res.x_noisy)
    except DaeError as e:
        log.warning("model not compared: %s", e)
        st.warning(plain(f"{name}: {e}"))

st.subheader("Original / corrupted / reconstructed")
image_row("Original", res.x, [f"#{i} · {labels[i]}" for i in idx])
image_row(f"Corrupted ({noise_name(noise)} {strength:g}): MSE · PSNR", res.x_noisy, scores(res.mse_noisy))
image_row(f"Reconstructed by {ck.name}: MSE · PSNR", res.x_hat, scores(res.mse))
for name, (x_hat, mse) in rows.items():
    image_row(f"Reconstructed by {name}: MSE · PSNR", x_hat, scores(mse))
table = {"test index": idx, "label": labels[idx], "MSE corrupted": res.mse_noisy,
         f"MSE {ck.name}": res.mse, f"PSNR {ck.name} (dB)": res.psnr}
table.update({f"MSE {name}": mse for name, (_, mse) in rows.items()})
# A Markdown table, not st.dataframe or st.table: their JavaScript would be most of
# the browser's work on this page, for eight rows.
st.markdown(markdown_frame(formatted(table), right=len(table) - 2))

st.subheader("Error against noise strength")
strengths, mse_noisy, mse_hat = cache.noise_sweep(*cache.file_key(ck.path), noise, seed)
# An SVG picture, not a Plotly chart: the page then loads no charting code in the browser.
st.image(noise_sweep_svg(strengths, mse_noisy, mse_hat, noise_name(noise), marked=strength))
st.caption("Mean MSE to the clean image over the first 500 test digits; the dotted line is the "
           "strength chosen above.")

st.subheader("Your own digit")
upload_col, draw_col = st.columns(2)
upload = upload_col.file_uploader("An image of one digit (any size; dark on light is inverted)",
                                  type=UPLOAD_TYPES, key="dn_upload")
with draw_col:
    drawn = draw_ui()
add_noise = st.checkbox("Also add the noise chosen above", key="dn_add_noise",
                        persist_state="session")
sources = {"Uploaded": upload.getvalue() if upload is not None else None, "Drawn": drawn}
for title, data in sources.items():
    if data is None:
        continue
    try:
        digit = load_digit(data)
    except ImageError as e:
        log.warning("image refused: %s", e)  # expected: one line, no traceback
        label = file_label(upload.name) if title == "Uploaded" else "the drawing"
        st.error(plain(f"Cannot use {label}: {e}"))
        continue
    own = corrupt_and_reconstruct(ck.model, digit, noise if add_noise else "none", strength, seed)
    name = file_label(upload.name) if title == "Uploaded" else "The drawing"
    unlike = digit_warning(name, own.x[0], float(own.mse[0]), ck)
    if unlike:
        st.warning(unlike, icon=":material/warning:")
    image_row(f"{title} digit: the model's 28×28 view, its input, the reconstruction",
              [own.x[0], own.x_noisy[0], own.x_hat[0]],
              ["28×28, centred", scores(own.mse_noisy)[0] if add_noise else "no noise added",
               scores(own.mse)[0]], scale=5)
