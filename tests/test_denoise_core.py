"""dae_core.analysis.denoise on real test digits with the shipped model: shapes, denoising, seeds, picking."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dae_core import checkpoint as ckpt_io
from dae_core.analysis.denoise import (
    NOISES,
    corrupt,
    corrupt_and_reconstruct,
    denoise,
    noise_sweep,
    parse_indices,
    pick_digits,
)
from dae_core.data import load_digits, to_float
from dae_core.errors import DaeError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    return ckpt_io.load(ROOT / "checkpoints" / "reference-d4.pt").model


@pytest.fixture(scope="module")
def digits():
    return load_digits("mnist")


@pytest.fixture(scope="module")
def images(digits):
    return digits.test_images[:64]  # uint8 (64, 28, 28)


@pytest.mark.parametrize("noise", NOISES)
def test_corrupt_and_reconstruct_shapes_and_range(model, images, noise):
    res = corrupt_and_reconstruct(model, images[:8], noise, 0.3, seed=0)
    for a in (res.x, res.x_noisy, res.x_hat):
        assert a.shape == (8, 28, 28) and a.min() >= 0 and a.max() <= 1
    for a in (res.mse_noisy, res.mse, res.psnr):
        assert a.shape == (8,) and np.isfinite(a).all()
    np.testing.assert_allclose(res.psnr, 10 * np.log10(1 / res.mse), rtol=1e-6)
    if noise == "none":
        assert np.array_equal(res.x_noisy, res.x) and not res.mse_noisy.any()


@pytest.mark.parametrize("noise, strength", [("gaussian", 0.5), ("salt_pepper", 0.3)])
def test_reconstruction_is_closer_to_the_clean_digit_than_the_noisy_input(model, images, noise,
                                                                         strength):
    res = corrupt_and_reconstruct(model, images, noise, strength, seed=0)
    assert res.mse.mean() < 0.6 * res.mse_noisy.mean()
    assert (res.mse < res.mse_noisy).mean() > 0.9


def test_same_seed_same_noise_other_seed_other_noise(model, images):
    a = corrupt_and_reconstruct(model, images[:8], "gaussian", 0.3, seed=1)
    b = corrupt_and_reconstruct(model, images[:8], "gaussian", 0.3, seed=1)
    c = corrupt_and_reconstruct(model, images[:8], "gaussian", 0.3, seed=2)
    assert np.array_equal(a.x_noisy, b.x_noisy) and np.array_equal(a.x_hat, b.x_hat)
    assert not np.array_equal(a.x_noisy, c.x_noisy)


def test_denoise_scores_another_model_on_the_same_noisy_inputs(model, images):
    res = corrupt_and_reconstruct(model, images[:8], "mask", 0.4, seed=0)
    x_hat, mse = denoise(model, res.x, res.x_noisy)
    np.testing.assert_allclose(x_hat, res.x_hat, atol=1e-6)
    np.testing.assert_allclose(mse, res.mse, rtol=1e-5)


@pytest.mark.parametrize("noise, strength", [("pink", 0.1), ("gaussian", -0.1), ("mask", 1.5)])
def test_bad_noise_settings_are_one_line_errors(images, noise, strength):
    with pytest.raises(DaeError, match=noise if noise == "pink" else "strength"):
        corrupt(to_float(images[:2]), noise, strength, 0)


def test_noise_sweep_grows_with_strength_and_the_model_removes_most_of_it(model, images):
    strengths = np.linspace(0, 1, 6)
    noisy, hat = noise_sweep(model, images, "gaussian", strengths, seed=0)
    assert noisy.shape == hat.shape == (6,)
    assert noisy[0] == 0 and np.all(np.diff(noisy) > 0)
    assert np.all(hat[2:] < noisy[2:])  # from sigma 0.4 on, the reconstruction is closer
    again = noise_sweep(model, images, "gaussian", strengths, seed=0, batch_size=24)
    np.testing.assert_allclose(again, (noisy, hat), rtol=1e-5)


def test_pick_digits_is_seeded_distinct_and_filters_by_class(digits):
    labels = digits.test_labels.numpy()
    idx = pick_digits(labels, 8, seed=3)
    assert len(set(idx)) == 8 and np.array_equal(idx, pick_digits(labels, 8, seed=3))
    assert not np.array_equal(idx, pick_digits(labels, 8, seed=4))
    sevens = pick_digits(labels, 12, seed=0, digit=7)
    assert len(sevens) == 12 and (labels[sevens] == 7).all()
    assert len(pick_digits(np.array([1, 2, 2]), 5, seed=0, digit=2)) == 2
    with pytest.raises(DaeError):
        pick_digits(labels, 3, seed=0, digit=11)


def test_parse_indices_reads_lists_and_refuses_bad_ones():
    assert parse_indices(" 3, 17 42;3 ", 100).tolist() == [3, 17, 42]
    for text in ["", "  ", "1, x", "-1", "100", "2.5", ",".join(map(str, range(40)))]:
        with pytest.raises(DaeError):
            parse_indices(text, 100)


@pytest.mark.slow  # starts another Python process
def test_denoise_module_does_not_import_streamlit():
    code = "import sys, dae_core.analysis.denoise; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
