"""The exported decoder (BatchNorm folded, plain arrays) reproduces decode(); the pad's lift lands
where the pointer is."""
import numpy as np
import pytest
import torch

from dae_core.analysis.latent import decode
from dae_core.errors import DaeError
from dae_core.model import DenoisingAutoencoder
from ui.export import decode_arrays, decoder_arrays, lift, pad_map


def randomised(d: int, width: int) -> DenoisingAutoencoder:
    """A model whose BatchNorms hold non-trivial statistics, so folding them is really tested."""
    torch.manual_seed(d * 10 + width)
    model = DenoisingAutoencoder(d, width)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


@pytest.mark.parametrize("d, width", [(2, 1), (10, 1), (64, 2)])
def test_folded_export_reproduces_decode(d, width):
    model = randomised(d, width)
    z = np.random.default_rng(0).normal(0, 2, (16, d)).astype(np.float32)
    expected = decode(model, z)
    arrays = decoder_arrays(model)
    assert all(a.dtype == np.float32 for a in arrays.values())
    assert "deconv3_w" in arrays and not any("bn" in k for k in arrays)  # no BatchNorm left
    np.testing.assert_allclose(decode_arrays(arrays, z, np.float64), expected, atol=1e-5)
    np.testing.assert_allclose(decode_arrays(arrays, z, np.float32), expected, atol=1e-5)


def test_shipped_checkpoint_exports(tiny_model):
    z = np.random.default_rng(1).random((8, tiny_model.latent_dim), dtype=np.float32)
    np.testing.assert_allclose(decode_arrays(decoder_arrays(tiny_model), z), decode(tiny_model, z),
                               atol=1e-5)


def test_bad_decoder_is_refused():
    model = randomised(4, 1)
    model.decoder.deconv = torch.nn.Sequential(*list(model.decoder.deconv)[:3])
    with pytest.raises(DaeError, match="reference decoder"):
        decoder_arrays(model)


def test_pad_map_axes_are_orthonormal_principal_components():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    m = pad_map(z, n=500, seed=1)
    assert m["idx"].shape == (500,) and np.all(np.diff(m["idx"]) > 0)
    np.testing.assert_allclose(m["axes"] @ m["axes"].T, np.eye(2), atol=1e-5)
    assert abs(abs(m["axes"][0, 0]) - 1) < 0.05 and abs(abs(m["axes"][1, 1]) - 1) < 0.05
    np.testing.assert_allclose(m["xy"], (z[m["idx"]] - m["mean"]) @ m["axes"].T, atol=1e-4)
    with pytest.raises(DaeError):
        pad_map(z[:, :1])


def test_lift_lands_on_the_pointer_and_near_the_data():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 5)).astype(np.float32)
    m = pad_map(z, n=800)
    codes = z[m["idx"]]
    for p in rng.normal(size=(20, 2)):
        code = lift(p, m["xy"], codes, m["mean"], m["axes"])
        np.testing.assert_allclose((code - m["mean"]) @ m["axes"].T, p, atol=1e-4)
    on_point = lift(m["xy"][7], m["xy"], codes, m["mean"], m["axes"])
    np.testing.assert_allclose(on_point, codes[7], atol=1e-3)  # a drawn code lifts to itself
