"""What the latent explorer sends to the browser: JSON-ready, the folded decoder, the pad's data
(on PCA, or on a cached UMAP map), the pad's lift and projection, and the switch that turns it off."""
import base64
import json

import numpy as np
import pytest

from dae_core.errors import DaeError
from ui import explorer
from ui.export import decoder_arrays, lift, map_positions, pad_map, project


def _array(b64: str, dtype, cols: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype).reshape(-1, cols)


def _training(d: int, n: int = 300):
    """(codes, labels, images) of n made-up training digits."""
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 10, n),
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))


def test_payload_is_json_and_carries_the_decoder_and_the_pad(tiny_model):
    rng = np.random.default_rng(0)
    d = tiny_model.latent_dim
    z = rng.normal(size=(300, d)).astype(np.float32)
    data = explorer.build_payload(tiny_model, z, rng.integers(0, 10, 300),
                                  rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), "tiny@1")
    assert json.loads(json.dumps(data)) == data  # plain JSON, nothing numpy left
    assert data["d"] == d and len(data["low"]) == len(data["high"]) == len(data["median"]) == d
    assert data["dials"] is None  # a code that is not split: one slider per number
    for name, array in decoder_arrays(tiny_model).items():
        sent = np.frombuffer(base64.b64decode(data["weights"][name]["b64"]), np.float32)
        np.testing.assert_array_equal(sent.reshape(data["weights"][name]["shape"]), array)
    n = min(300, explorer.PAD_POINTS)
    pad = data["pad"]
    assert len(base64.b64decode(pad["xy"])) == n * 2 * 4
    assert len(base64.b64decode(pad["codes"])) == n * d * 4
    assert len(base64.b64decode(pad["labels"])) == n
    assert data["sprite"].startswith("data:image/png;base64,")
    m = pad_map(z, explorer.PAD_POINTS)  # without a UMAP map: the principal components, as before
    assert pad["projection"] == "pca"
    np.testing.assert_array_equal(_array(pad["xy"], np.float32, 2), m["xy"])
    np.testing.assert_array_equal(np.array(pad["axes"], np.float32), m["axes"])


def test_a_umap_map_places_the_same_drawn_codes(tiny_model):
    z, y, images = _training(tiny_model.latent_dim, 3000)
    map_xy = np.random.default_rng(1).normal(size=(len(z), 2)).astype(np.float32)
    pca = explorer.build_payload(tiny_model, z, y, images, "tiny@1")["pad"]
    data = explorer.build_payload(tiny_model, z, y, images, "tiny@1", umap=(np.arange(len(z)), map_xy))
    pad, idx = data["pad"], pad_map(z, explorer.PAD_POINTS)["idx"]
    assert json.loads(json.dumps(data)) == data
    assert pad["projection"] == "umap" and "axes" not in pad
    np.testing.assert_array_equal(_array(pad["xy"], np.float32, 2), map_xy[idx])
    assert pad["codes"] == pca["codes"] and pad["labels"] == pca["labels"]


def test_map_positions_need_every_drawn_code_on_the_map():
    xy = np.arange(10, dtype=np.float32).reshape(5, 2)
    np.testing.assert_array_equal(map_positions(np.array([2, 7]), np.array([0, 2, 5, 7, 9]), xy),
                                  xy[[1, 3]])
    with pytest.raises(DaeError):
        map_positions(np.array([2, 8]), np.array([0, 2, 5, 7, 9]), xy)
    with pytest.raises(DaeError):
        map_positions(np.array([10]), np.array([0, 2, 5, 7, 9]), xy)


def test_project_and_lift_of_a_drawn_code_land_on_its_own_point():
    z, _, _ = _training(6, 800)
    codes, xy = z.astype(np.float64), np.random.default_rng(2).normal(size=(800, 2))
    for i in (0, 17, 499):  # a UMAP pad: nearest neighbours both ways
        np.testing.assert_allclose(project(codes[i], xy, codes), xy[i], atol=1e-4)
        lifted = lift(xy[i], xy, codes)  # its pad neighbours weigh in a little: near, not on it
        assert np.argmin(((codes - lifted) ** 2).sum(1)) == i
        np.testing.assert_allclose(lifted, codes[i], atol=1e-2)
    # between drawn codes, the projection is a weighted mean of their positions: inside their box
    p = project(codes[:2].mean(0), xy, codes)
    assert np.all(p >= xy.min(0)) and np.all(p <= xy.max(0))
    m = pad_map(codes, 800)  # a PCA pad: the exact projection, and a lift that lands on it
    np.testing.assert_allclose(project(codes[5], m["xy"], codes, m["mean"], m["axes"]),
                               (codes[5] - m["mean"]) @ m["axes"].T, atol=1e-6)
    q = project(lift(np.array([0.3, -0.2]), m["xy"], codes, m["mean"], m["axes"]), m["xy"], codes,
                m["mean"], m["axes"])
    np.testing.assert_allclose(q, [0.3, -0.2], atol=1e-5)


@pytest.mark.parametrize("value, on", [("off", False), ("0", False), ("OFF ", False),
                                       ("on", True), ("1", True), ("", True)])
def test_environment_switch(monkeypatch, value, on):
    monkeypatch.setenv("DAE_EXPLORER", value)
    assert explorer.enabled() is on
