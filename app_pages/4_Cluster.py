"""Cluster: k-means (and friends) on a model's training codes, scored against the true digits."""
import streamlit as st

from dae_core.analysis import embed
from dae_core.analysis.pipeline import summarize
from dae_core.data import to_unit
from dae_core.figures import grid_image
from ui import cache, cluster_cache, sidebar
from ui.cluster_ui import (
    MATRIX_WIDTH,
    NAMES,
    TABLE_WIDTH,
    baseline_ui,
    cell_ui,
    clustering_ui,
    confusion_ui,
    map_points,
    map_ui,
    mapping_table_ui,
    scores_row,
    seeds_table,
    seeds_ui,
    settings_ui,
)
from ui.map_view import map_view
from ui.words import STEPS, clustered_words, duration, method_name, percent

st.set_page_config(page_title="Cluster · DAE Lab", layout="wide")
st.title("Cluster the codes")
st.caption("Cluster the encodings of the model's training split, then match clusters to digits "
           "(Hungarian algorithm) to see how well the codes separate the digits without labels.")

# --- inputs and guard
scores = st.container()  # the scores, what this page is for, sit above their settings
k, method, seed = settings_ui()
ck = sidebar.require_checkpoint()
path, mtime = cache.file_key(ck.path)

# --- core calls (cached per checkpoint in memory and on disk; GMM and UMAP as Ray jobs, with progress)
codes = cache.codes(path, mtime)
result = clustering_ui(path, mtime, k, method, seed)
if result is None:
    st.stop()
report = result.train

# --- display: the scores and what they took
with scores:
    scores_row(NAMES, report, result.test)
steps = ({"encoding (train + test)": codes.seconds} if codes.seconds else {}) | result.seconds
st.caption(f"{method_name(method)} on {clustered_words(ck, len(codes.z_train))}; "
           "the 10k test codes are placed by the fitted model and "
           "keep the training codes' cluster → digit matching. Time it took (once; kept on disk "
           "since): " + " · ".join(f"{STEPS.get(n, n)} {duration(s)}" for n, s in steps.items()))
if st.toggle("Repeat over 3 seeds (mean ± std)", key="cluster_seeds", persist_state="session"):
    runs = seeds_ui(path, mtime, k, method, seed)
    if runs:
        st.dataframe(seeds_table(summarize(runs)), hide_index=True,
                     column_order=("score", "train", "test"), key="cluster_seed_table")

# --- baseline: k-means on pixels instead of codes
st.subheader("Baseline: k-means on pixels")
baseline_on, pca_dims, pixels = baseline_ui()
if baseline_on:
    base, seconds = cluster_cache.pixel_baseline(path, mtime, k, seed, pca_dims)
    scores_row(("Accuracy (pixels)", "NMI (pixels)", "ARI (pixels)"), base)
    st.caption(f"k-means on {pixels}: {duration(seconds)}, versus {percent(report.accuracy)} "
               f"accuracy for {method_name(method)} on the codes.")

# --- 2-D map of the codes
st.subheader("Map of the codes")
projection, color_by = map_ui()
points = map_points(path, mtime, projection, seed)
if points is not None:
    idx, xy = points
    color = (codes.y_train if color_by == "true digit" else result.labels)[idx]
    map_view(xy, color, f"{projection} of the training codes", color_by)


# --- clusters against digits, and one cell's images; a fragment, so that a click on a cell (or a
# pick in its dropdowns) redraws only this part
@st.fragment
def clusters_and_digits() -> None:
    """The cluster -> digit table, the confusion matrices and up to 16 training images of the
    cell clicked or picked (a true digit that fell in a cluster)."""
    st.subheader("Cluster → digit")
    # Side by side where both fit (a 1400-px window), else the matrix under the table: squeezed
    # into columns, the table spilled into the matrix's labels.
    row = st.container(horizontal=True, gap="small")
    with row.container(width=TABLE_WIDTH):
        mapping_table_ui(report)
    with row.container(width=MATRIX_WIDTH):
        confusion_ui(report)
    st.subheader("Images in one cell of the confusion matrix")
    digit, cluster = cell_ui(report)
    cell = embed.cell_indices(codes.y_train, result.labels, digit, cluster)
    st.caption(f"{len(cell):,} training image{'s' * (len(cell) != 1)} of digit {digit} fell in "
               f"cluster {cluster}; showing up to 16.")
    if len(cell):
        images = cache.digits(ck.config.dataset).train_images[codes.train_index[cell[:16]]]
        st.image(grid_image(to_unit(images), nrow=8, scale=3), clamp=True)


clusters_and_digits()
