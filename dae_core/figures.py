"""Plotly figures and image grids as pure functions of arrays (no Streamlit)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from skimage.util import montage

_MARGIN = dict(l=10, r=10, t=30, b=10)


def grid_image(images: np.ndarray, nrow: int, pad: int = 2, scale: int = 1) -> np.ndarray:
    """(N, H, W) in [0, 1] -> one (H', W') grid image, `nrow` images per row, enlarged by `scale`.

    scikit-image's montage, not torchvision's make_grid: the app never imports torchvision, whose
    import alone would add to the server's memory and start-up (docs/speed.md).
    """
    images = np.asarray(images, np.float32)
    shape = (-(-len(images) // nrow), nrow)
    grid = montage(images, fill=0.25, grid_shape=shape, padding_width=pad)
    return np.kron(grid, np.ones((scale, scale), np.float32)) if scale > 1 else grid


MAX_POINTS = 1_000  # per trace (about the chart's width in pixels): a redraw sends a bounded figure
SMOOTHING = 0.2  # the EWM's alpha per point (the mean of 10 batches): a mean weight age of 4 points, 40 batches


def smooth(values, alpha: float = SMOOTHING) -> np.ndarray:
    """Exponentially weighted mean of a noisy curve, bias-corrected (pandas' ewm, adjust=True): the
    weights are renormalised over the points seen so far, so the first values are not pulled
    toward the very first one, and a constant series stays that constant -> (N,)."""
    import pandas as pd  # here: a page that draws no loss chart never waits for pandas' import

    return pd.Series(values, dtype=float).ewm(alpha=alpha, adjust=True).mean().to_numpy()


def decimate(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most max_points of n points, evenly spaced, the first and last included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def loss_chart(history: list[dict], batches: list[tuple[float, float]] | None = None,
               log_y: bool = False, title: str = "Loss (MSE)") -> go.Figure:
    """Per-epoch train / validation loss, plus the per-batch loss (raw and smoothed) at fractional
    epochs; at most MAX_POINTS of each batch trace are drawn, smoothed over all of them."""
    fig = go.Figure()
    if batches:
        points = np.asarray(batches, dtype=float)  # (N, 2): fractional epoch, loss
        keep = decimate(len(points))
        x, y = points[keep, 0], points[keep, 1]
        fig.add_scatter(x=x, y=y, mode="lines", name="batch (raw)", opacity=0.25,
                        line=dict(color="#1f77b4", width=1))
        fig.add_scatter(x=x, y=smooth(points[:, 1])[keep], mode="lines", name="batch (smoothed)",
                        line=dict(color="#1f77b4"))
    if history:
        epochs = [history[i] for i in decimate(len(history))]
        x = [h["epoch"] for h in epochs]
        fig.add_scatter(x=x, y=[h.get("train_loss") for h in epochs], mode="lines+markers",
                        name="train (epoch)", line=dict(color="#ff7f0e"))
        fig.add_scatter(x=x, y=[h.get("val_loss") for h in epochs], mode="lines+markers",
                        name="validation (epoch)", line=dict(color="#2ca02c"))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="MSE", margin=_MARGIN,
                      height=360, legend=dict(orientation="h", y=-0.2))
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def scatter_2d(xy: np.ndarray, color: np.ndarray, title: str, color_title: str) -> go.Figure:
    """A 2-D map of points coloured by a discrete label (one trace per value, for a clean legend)."""
    fig = go.Figure()
    for i, value in enumerate(np.unique(color)):
        m = color == value
        fig.add_scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=str(value),
                          marker=dict(size=3, opacity=0.6, color=label_color(i)))
    fig.update_layout(title=title, legend_title=color_title, margin=_MARGIN, height=480)
    return fig


# D3's ten qualitative colours, given explicitly to both maps (a theme's colours would differ): a
# label keeps its colour between the density map and the full scatter.
PALETTE = np.array([[0x1f, 0x77, 0xb4], [0xff, 0x7f, 0x0e], [0x2c, 0xa0, 0x2c], [0xd6, 0x27, 0x28],
                    [0x94, 0x67, 0xbd], [0x8c, 0x56, 0x4b], [0xe3, 0x77, 0xc2], [0x7f, 0x7f, 0x7f],
                    [0xbc, 0xbd, 0x22], [0x17, 0xbe, 0xcf]], np.float32)
def label_color(i: int) -> str:
    """The colour of the i-th label (in sorted order) on every map: 'rgb(r,g,b)'."""
    r, g, b = PALETTE[i % len(PALETTE)].astype(int)
    return f"rgb({r},{g},{b})"


MAP_BINS = (120, 200)  # (rows, columns) of the density map: a few screen pixels per bin
MIN_ALPHA = 0.3  # a bin holding one point is still seen


def density_rgb(xy: np.ndarray, color: np.ndarray, bins: tuple[int, int] = MAP_BINS):
    """Points binned on a grid, as one picture: each bin the count-weighted mix of its points'
    label colours (PALETTE, in the order of np.unique(color)), fading to white as its count falls
    (log scale); empty bins white.

    Returns (image (rows, cols, 3) uint8, row 0 the lowest y; (x0, y0) the centre of bin [0, 0];
    (dx, dy) a bin's size; the sorted labels)."""
    xy, color = np.asarray(xy, np.float64), np.asarray(color)
    values, label = np.unique(color, return_inverse=True)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    size = np.where(hi > lo, hi - lo, 1.0) / np.array(bins[::-1])  # (dx, dy)
    col = np.minimum(((xy[:, 0] - lo[0]) / size[0]).astype(int), bins[1] - 1)
    row = np.minimum(((xy[:, 1] - lo[1]) / size[1]).astype(int), bins[0] - 1)
    counts = np.bincount((row * bins[1] + col) * len(values) + label,
                         minlength=bins[0] * bins[1] * len(values))
    counts = counts.reshape(bins[0], bins[1], len(values)).astype(np.float32)
    total = counts.sum(axis=2, keepdims=True)
    mix = counts @ PALETTE[np.arange(len(values)) % len(PALETTE)] / np.maximum(total, 1)
    alpha = np.log1p(total) / np.log1p(total.max())
    alpha = np.where(total > 0, MIN_ALPHA + (1 - MIN_ALPHA) * alpha, 0.0)
    image = (255 * (1 - alpha) + mix * alpha).round().astype(np.uint8)
    return image, tuple(lo + size / 2), tuple(size), values


