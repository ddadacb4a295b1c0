"""Image grids: tiles placed row-major with padding, pixels enlarged by an integer scale."""
import numpy as np
import pytest

from dae_core.figures import grid_image


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

