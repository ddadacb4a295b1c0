"""Latent space: encode / decode shapes, samplers, interpolation, manifold grid, slider ranges."""
import numpy as np
import pytest

from dae_core.analysis.latent import (
    LatentSampler,
    decode,
    encode,
    interpolate,
    manifold_grid,
    reconstruct,
    slider_ranges,
)
from dae_core.data import load_digits
from dae_core.errors import DaeError


def test_encode_decode_shapes(tiny_model):
    images = load_digits("mnist").test_images[:20]
    z = encode(tiny_model, images, batch_size=8)
    assert z.shape == (20, 4) and z.dtype == np.float32
    z_float = encode(tiny_model, images.unsqueeze(1).float() / 255)
    np.testing.assert_allclose(z, z_float, rtol=1e-5, atol=1e-5)
    x_hat = decode(tiny_model, z, batch_size=8)
    assert x_hat.shape == (20, 28, 28) and x_hat.dtype == np.float32
    assert x_hat.min() >= 0 and x_hat.max() <= 1
    assert encode(tiny_model, images[:0]).shape == (0, 4)
    assert decode(tiny_model, np.zeros((0, 4))).shape == (0, 28, 28)


def test_reconstruct_is_decode_of_encode(tiny_model):
    x = load_digits("mnist").test_images[:6].unsqueeze(1).float() / 255
    np.testing.assert_allclose(reconstruct(tiny_model, x), decode(tiny_model, encode(tiny_model, x)),
                               atol=1e-6)


def test_decode_refuses_codes_of_the_wrong_size(tiny_model):
    with pytest.raises(DaeError, match=r"\(N, 4\)"):
        decode(tiny_model, np.zeros((3, 5)))


@pytest.fixture(scope="module")
def codes():
    """Three tight, far-apart groups in 3-d, 200 codes each."""
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 10]], float)
    return np.concatenate([c + 0.3 * rng.standard_normal((200, 3)) for c in centres])


@pytest.mark.parametrize("kind", ["uniform01", "box", "gaussian", "gmm", "cluster:2"])
def test_samplers_shape_and_seed(codes, kind):
    sampler = LatentSampler(kind, n_components=3, seed=0).fit(codes)
    a, b, c = sampler.sample(50, seed=1), sampler.sample(50, seed=1), sampler.sample(50, seed=2)
    assert a.shape == (50, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_uniform01_needs_no_fit():
    z = LatentSampler("uniform01").sample(100, seed=0, d=6)
    assert z.shape == (100, 6) and z.min() >= 0 and z.max() < 1


def test_box_samples_stay_inside_the_box(codes):
    sampler = LatentSampler("box").fit(codes)
    z = sampler.sample(500, seed=0)
    assert (z >= sampler.low.astype(np.float32)).all() and (z <= sampler.high.astype(np.float32)).all()
    np.testing.assert_allclose(sampler.low, np.percentile(codes, 1, axis=0))


def test_gaussian_matches_the_codes_moments(codes):
    z = LatentSampler("gaussian").fit(codes).sample(5000, seed=0)
    np.testing.assert_allclose(z.mean(0), codes.mean(0), atol=0.3)


@pytest.mark.parametrize("component", [0, 1, 2])
def test_cluster_samples_sit_near_their_component(codes, component):
    sampler = LatentSampler(f"cluster:{component}", n_components=3, seed=0).fit(codes)
    z = sampler.sample(100, seed=0)
    mean = sampler.gmm.means_[component]
    assert np.linalg.norm(z.mean(0) - mean) < 0.2
    nearest = np.linalg.norm(z[:, None] - sampler.gmm.means_[None], axis=2).argmin(1)
    assert (nearest == component).all()


def test_gmm_samples_cover_every_group(codes):
    z = LatentSampler("gmm", n_components=3).fit(codes).sample(300, seed=0)
    groups = np.linalg.norm(z[:, None] - codes.reshape(3, 200, 3).mean(1)[None], axis=2).argmin(1)
    assert set(groups) == {0, 1, 2}


@pytest.mark.parametrize("kind", ["foo", "cluster", "cluster:x", "cluster:10", "cluster:-1"])
def test_bad_sampler_names(kind):
    with pytest.raises(DaeError):
        LatentSampler(kind, n_components=10)


def test_fitted_samplers_refuse_to_sample_before_fit():
    with pytest.raises(DaeError, match="fit"):
        LatentSampler("box").sample(3, seed=0)


def test_interpolate_endpoints():
    a, b = np.array([0.0, 1.0, 2.0]), np.array([4.0, -1.0, 2.0])
    path = interpolate(a, b, 5)
    assert path.shape == (5, 3)
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b)
    np.testing.assert_allclose(path[2], (a + b) / 2)


def test_manifold_grid_varies_only_the_two_chosen_dims():
    base = np.array([0.5, -1.0, 2.0, 3.0])
    low, high = np.full(4, -2.0), np.full(4, 2.0)
    grid = manifold_grid(base, (1, 3), low, high, 6)
    assert grid.shape == (36, 4)
    np.testing.assert_array_equal(grid[:, [0, 2]], np.tile(base[[0, 2]], (36, 1)).astype(np.float32))
    for dim in (1, 3):
        assert len(np.unique(grid[:, dim])) == 6
        assert grid[:, dim].min() == -2.0 and grid[:, dim].max() == 2.0
    rows = grid.reshape(6, 6, 4)
    assert (np.diff(rows[0, :, 1]) > 0).all()  # dims[0] grows along a row
    assert (np.diff(rows[:, 0, 3]) < 0).all()  # dims[1] falls down the rows (top = high)
    with pytest.raises(DaeError):
        manifold_grid(base, (2, 2), low, high, 3)


def test_slider_ranges_are_ordered(codes):
    low, high, median = slider_ranges(codes)
    assert low.shape == high.shape == median.shape == (3,)
    assert (low <= median).all() and (median <= high).all() and (low < high).all()
    np.testing.assert_allclose(median, np.median(codes, axis=0), rtol=1e-5)


@pytest.mark.parametrize("kind", ["box", "gaussian", "gmm", "cluster:2"])
def test_a_sampler_rebuilt_from_its_arrays_draws_the_same_codes(codes, kind):
    fitted = LatentSampler(kind, n_components=3).fit(codes)
    again = LatentSampler(kind, n_components=3).fitted_as({k: v.copy() for k, v in fitted.arrays().items()})
    assert again is not None
    np.testing.assert_array_equal(again.sample(20, 5), fitted.sample(20, 5))


def test_arrays_that_do_not_fit_the_sampler_are_refused(codes):
    good = LatentSampler("gmm", n_components=3).fit(codes).arrays()
    assert LatentSampler("gmm", n_components=5).fitted_as(good) is None  # another mixture size
    for name, bad in [("means", good["means"][:, :1]), ("cov", np.full_like(good["cov"], np.nan)),
                      ("weights", good["weights"] * 2), ("low", np.array(["a", "b"]))]:
        assert LatentSampler("gmm", n_components=3).fitted_as({**good, name: bad}) is None, name
    missing = {k: v for k, v in good.items() if k != "covariances"}
    assert LatentSampler("gmm", n_components=3).fitted_as(missing) is None
