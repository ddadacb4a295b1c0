"""Cluster: k-means (and friends) on a model's training codes, scored against the true digits."""
import streamlit as st

from dae_core import embed
from dae_core.cluster import METHODS
from dae_core.figures import confusion_heatmap, grid_image, scatter_2d
from dae_core.pipeline import summarize
from ui import cache, sidebar

st.set_page_config(page_title="Cluster · DAE Lab", page_icon="🧪", layout="wide")


def settings_ui() -> tuple[int, str, int]:
    """k, method and seed of the clustering."""
    c_k, c_method, c_seed = st.columns(3)
    k = c_k.number_input("Clusters k", 2, 30, 10, key="cluster_k")
    method = c_method.selectbox("Method", METHODS, key="cluster_method",
                                help="UMAP methods embed the codes to k dimensions first (N2D).")
    seed = c_seed.number_input("Seed", 0, 10_000, 0, key="cluster_seed")
    return int(k), method, int(seed)


def metric(col, name: str, train: float, test: float | None) -> None:
    col.metric(name, f"{train:.3f}", None if test is None else f"{test:.3f}", delta_color="off",
               delta_arrow="off", delta_description="test set" if test is not None else None)


# --- inputs and guard
ck = sidebar.require_checkpoint()
path, mtime = cache.file_key(sidebar.current_path())
st.title("Cluster the codes")
st.caption("Cluster the encodings of the model's training split, then match clusters to digits "
           "(Hungarian algorithm) to see how well the codes separate the digits without labels.")
k, method, seed = settings_ui()
if method.startswith("umap"):
    st.warning("UMAP takes about a minute on the 48k training codes (once; then it is cached).")

# --- core calls (cached per checkpoint file and its modification time)
codes = cache.codes(path, mtime)
result = cache.clustering(path, mtime, k, method, seed)
report = result.train

# --- scores and timings
c_acc, c_nmi, c_ari = st.columns(3)
metric(c_acc, "Accuracy (Hungarian)", report.accuracy, result.test.accuracy)
metric(c_nmi, "NMI", report.nmi, result.test.nmi)
metric(c_ari, "ARI", report.ari, result.test.ari)
steps = {"encoding (train + test)": codes.seconds, **result.seconds}
st.caption(f"{method} on {len(codes.z_train):,} training codes (d={codes.z_train.shape[1]}); "
           "test scores use the fitted model's predictions on the 10k test codes. Seconds: "
           + " · ".join(f"{name} {s:.2f}" for name, s in steps.items()))
if st.toggle("Repeat over 3 seeds (mean ± std)", key="cluster_seeds"):
    runs = [cache.clustering(path, mtime, k, method, seed + i) for i in range(3)]
    spread = summarize(runs)
    st.dataframe({split: [f"{spread[f'{split}_{m}_mean']:.4f} ± {spread[f'{split}_{m}_std']:.4f}"
                          for m in ("accuracy", "nmi", "ari")] for split in ("train", "test")}
                 | {"score": ["accuracy", "NMI", "ARI"]}, hide_index=True,
                 column_order=("score", "train", "test"), key="cluster_seed_table")

# --- mapping table and confusion matrices
c_table, c_heat = st.columns([1, 2])
c_table.subheader("Cluster → digit")
c_table.dataframe(embed.cluster_table(report), hide_index=True, height="content", column_config={
    "purity": st.column_config.ProgressColumn("purity", min_value=0.0, max_value=1.0, format="%.2f")})
matched, raw = c_heat.tabs(["Matched order (diagonal = correct)", "Raw cluster order"])
matrix, order = report.reordered()
matched.plotly_chart(confusion_heatmap(
    matrix, report.labels, [f"{c}→{report.mapping[int(c)]}" for c in order],
    "Confusion after matching", x_title="cluster→digit"), key="heat_matched")
raw.plotly_chart(confusion_heatmap(report.confusion, report.labels, report.clusters,
                                   "Confusion, clusters in their raw order"), key="heat_raw")

# --- baseline: k-means on pixels instead of codes
st.subheader("Baseline: k-means on pixels")
c_input, c_run = st.columns([2, 1], vertical_alignment="bottom")
pixels = c_input.radio("Input", ["50-d PCA of the pixels", "raw pixels (784-d, slower)"],
                       horizontal=True, key="baseline_input")
if c_run.toggle("Compute the baseline", key="baseline_on", help="Same k and seed; cached."):
    pca_dims = 50 if pixels.startswith("50") else None
    base, seconds = cache.pixel_baseline(path, mtime, k, seed, pca_dims)
    b_acc, b_nmi, b_ari = st.columns(3)
    metric(b_acc, "Accuracy (pixels)", base.accuracy, None)
    metric(b_nmi, "NMI (pixels)", base.nmi, None)
    metric(b_ari, "ARI (pixels)", base.ari, None)
    st.caption(f"k-means on {pixels}: {seconds:.2f} s, versus {report.accuracy:.3f} accuracy "
               f"for {method} on the {codes.z_train.shape[1]}-d codes.")

# --- 2-D map of the codes
st.subheader("Map of the codes")
c_proj, c_color = st.columns(2)
projection = c_proj.radio("Projection", ["PCA (all points)", "t-SNE (2,000-point sample)"],
                          horizontal=True, key="map_projection")
color_by = c_color.radio("Colour by", ["true digit", "cluster"], horizontal=True, key="map_color")
if projection.startswith("PCA"):
    idx, xy = cache.pca_map(path, mtime)
else:
    idx, xy = cache.tsne_map(path, mtime, 2000, seed)
color = (codes.y_train if color_by == "true digit" else result.labels)[idx]
st.plotly_chart(scatter_2d(xy, color, f"{projection} of the training codes", color_by),
                key="map")


# --- samples from one (digit, cluster) cell; a fragment, so picking a cell redraws only this part
@st.fragment
def cell_samples() -> None:
    st.subheader("Images in one cell of the confusion matrix")
    c_digit, c_cluster = st.columns(2)
    digit = c_digit.selectbox("True digit", report.labels.tolist(), key="cell_digit")
    counts = dict(embed.clusters_by_count(report, digit))  # fullest cluster first: the default
    cluster = c_cluster.selectbox("Cluster (most images of this digit first)", list(counts),
                                  format_func=lambda c: f"{c}, matched to {report.mapping[c]} "
                                                        f"({counts[c]:,} images of {digit})")
    cell = embed.cell_indices(codes.y_train, result.labels, digit, cluster)
    st.caption(f"{len(cell):,} training images of digit {digit} fell in cluster {cluster}; "
               f"showing up to 16.")
    if len(cell):
        images = cache.digits(ck.config.dataset).train_images[codes.train_index[cell[:16]]]
        st.image(grid_image(embed.to_unit(images), nrow=8, scale=3), clamp=True)


cell_samples()
