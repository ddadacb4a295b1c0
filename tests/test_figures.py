"""Figures: image grids (tiles row-major, padding, scale); the loss chart (bias-corrected smoothing,
bounded points); the density map of many codes."""
import re

import numpy as np
import pytest

from dae_core.figures import MAX_POINTS, PALETTE, density_rgb, grid_image, loss_chart, scatter_2d, smooth
from ui.svg_cluster import density_svg


def test_grid_places_images_row_major_with_padding():
    images = np.stack([np.full((4, 4), i / 10, np.float32) for i in range(5)])
    grid = grid_image(images, nrow=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1)
    for i in range(5):
        r, c = divmod(i, 3)
        tile = grid[1 + 5 * r: 5 + 5 * r, 1 + 5 * c: 5 + 5 * c]
        assert np.allclose(tile, i / 10), i
    assert np.allclose(grid[0], 0.25) and np.allclose(grid[:, 0], 0.25)  # the padding
    assert np.allclose(grid[6:10, 11:15], 0.25)  # the empty sixth cell


@pytest.mark.parametrize("scale", [1, 3])
def test_grid_scale_enlarges_each_pixel(scale):
    images = np.random.default_rng(0).random((9, 28, 28), dtype=np.float32)
    base, big = grid_image(images, nrow=3), grid_image(images, nrow=3, scale=scale)
    assert big.shape == (base.shape[0] * scale, base.shape[1] * scale)
    assert np.array_equal(big[::scale, ::scale], base)



def test_smoothing_is_the_bias_corrected_weighted_mean():
    """Each smoothed point is the mean of the points so far, weighted (1 - alpha)^age and
    renormalised: a curve that falls fast is not held up by its first value."""
    y = np.random.default_rng(0).random(50) + np.linspace(5, 0, 50)
    alpha = 0.2
    expected = []
    for t in range(len(y)):
        w = (1 - alpha) ** np.arange(t, -1, -1)
        expected.append((w * y[: t + 1]).sum() / w.sum())
    assert np.allclose(smooth(y, alpha), expected)
    assert np.allclose(smooth(np.full(30, 0.03)), 0.03)  # a constant curve stays where it is


def test_loss_chart_smooths_the_raw_batch_loss_without_lagging_above_it():
    falling = [(i / 10, 1.0 if i == 0 else 0.1) for i in range(20)]  # a first report far above the rest
    raw, smoothed = loss_chart([], falling).data
    assert raw.name == "batch (raw)" and smoothed.name == "batch (smoothed)"
    assert np.allclose(smoothed.y, smooth([y for _, y in falling]))
    assert smoothed.y[5] < 0.2  # an EMA started at the first value (same alpha) still reads 0.39 here


def test_loss_chart_draws_a_bounded_number_of_points_however_long_the_run():
    n = 100_000
    batches = [(i / 100, 1.0 / (1 + i)) for i in range(n)]
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.0 / e} for e in range(1, 10_001)]
    fig = loss_chart(history, batches)
    assert [len(trace.x) for trace in fig.data] == [MAX_POINTS] * 4
    raw = fig.data[0]
    assert (raw.x[0], raw.y[0]) == batches[0] and (raw.x[-1], raw.y[-1]) == batches[-1]  # both ends kept
    assert np.all(np.diff(raw.x) > 0)
    assert fig.data[1].y[-1] == pytest.approx(smooth([y for _, y in batches])[-1])  # smoothed over all


def test_a_short_run_is_drawn_whole():
    batches = [(i / 10, 0.5) for i in range(30)]
    history = [{"epoch": 1, "train_loss": 0.4, "val_loss": 0.3}, {"epoch": 2, "train_loss": 0.2, "val_loss": 0.1}]
    fig = loss_chart(history, batches)
    assert [len(trace.x) for trace in fig.data] == [30, 30, 2, 2]
    assert list(fig.data[3].y) == [0.3, 0.1]


def _rgb(text: str) -> list[int]:
    return [int(v) for v in text[4:-1].split(",")]


def test_density_picture_colours_each_bin_by_its_labels_and_fades_sparse_ones():
    # bins of 1x1 over [0, 4] x [0, 2]: 2 rows, 4 columns
    xy = np.array([[0.5, 0.5]] * 8 + [[3.5, 1.5]] * 4 + [[3.5, 1.5]] * 4 + [[1.5, 1.5]])
    color = np.array([7] * 8 + [7] * 4 + [3] * 4 + [3])
    image, (x0, y0), (dx, dy), labels = density_rgb(xy, color, bins=(2, 4))
    assert image.shape == (2, 4, 3) and image.dtype == np.uint8
    assert list(labels) == [3, 7] and (dx, dy) == (0.75, 0.5) and (x0, y0) == (0.875, 0.75)
    # the fullest bin (8 points, all label 7, the second label) is exactly its colour; row 0 is the lowest y
    assert image[0, 0].tolist() == PALETTE[1].astype(int).tolist()
    # half 7, half 3 (as full): the mean of the two colours
    assert np.allclose(image[1, 3], PALETTE[:2].mean(axis=0), atol=1)
    # one point: its label's colour, faded toward white but still there
    one = image[1, 1].astype(int)
    assert (one > PALETTE[0]).all() and (one < 255).any()
    assert (image[0, 1:] == 255).all() and (image[1, 0] == 255).all()  # empty bins are white


def test_the_density_maps_legend_has_the_scatters_colours():
    rng = np.random.default_rng(0)
    xy, color = rng.normal(size=(1000, 2)), rng.integers(0, 10, 1000)
    legend = re.findall(r'<circle [^>]*fill="(rgb\([^)]*\))"', density_svg(xy, color, "map", "digit"))
    scatter = scatter_2d(xy, color, "map", "digit")
    assert legend == [t.marker.color for t in scatter.data]
    assert [_rgb(c) for c in legend] == PALETTE.astype(int).tolist()
    assert sum(len(t.x) for t in scatter.data) == 1000  # the toggle's scatter: every point


def test_density_picture_places_points_where_the_axes_say():
    """Every point lies inside the bin whose centre density_rgb reports for its row and column."""
    rng = np.random.default_rng(1)
    xy = rng.uniform([-3, 10], [5, 11], size=(300, 2))
    image, (x0, y0), (dx, dy), _ = density_rgb(xy, np.zeros(300, int), bins=(7, 9))
    col = np.clip(np.round((xy[:, 0] - x0) / dx).astype(int), 0, 8)
    row = np.clip(np.round((xy[:, 1] - y0) / dy).astype(int), 0, 6)
    assert (np.abs(xy[:, 0] - (x0 + col * dx)) <= dx / 2 + 1e-9).all()
    assert (np.abs(xy[:, 1] - (y0 + row * dy)) <= dy / 2 + 1e-9).all()
    filled = np.zeros((7, 9), bool)
    filled[row, col] = True
    assert np.array_equal((image < 255).any(axis=2), filled)
