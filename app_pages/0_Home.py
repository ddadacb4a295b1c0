"""DAE Lab home: what the app is, the shared model picker, a look at the data."""
import numpy as np
import streamlit as st

from dae_core.data import to_unit
from dae_core.figures import grid_image
from ui import cache
from ui.sidebar import checkpoint_picker
from ui.words import about_model

st.set_page_config(page_title="DAE Lab", layout="wide")
ck = checkpoint_picker()  # the shared sidebar; this page needs no model
st.title("DAE Lab")
st.markdown(
    """
Train, look inside and use **convolutional denoising autoencoders** on MNIST digits.
The model picker in the sidebar is shared by every page.

- **Train** a model with a live loss chart; stop, continue, save and compare runs.
- **Denoise** test digits or your own image, and see how error grows with noise.
- **Generate** digits from sampled codes, and morph one live with the latent sliders.
- **Cluster** the codes (k-means, GMM, UMAP + GMM) and see how well clusters match digits.
"""
)
if ck is not None:
    st.info(about_model(ck))
seed = st.number_input("Sample seed", 0, 10_000, 0, key="home_seed", persist_state="session")

digits = cache.digits("mnist")
idx = np.random.default_rng(int(seed)).choice(len(digits.train_images), 25, replace=False)
images = to_unit(digits.train_images[idx])
labels = digits.train_labels[idx].numpy()

col_img, col_lbl = st.columns([2, 1])
col_img.image(grid_image(images, nrow=5, scale=4), caption="25 training digits", clamp=True)
col_lbl.markdown("**Labels** (row by row)")
col_lbl.text("\n".join(" ".join(str(v) for v in labels[r * 5:(r + 1) * 5]) for r in range(5)))
