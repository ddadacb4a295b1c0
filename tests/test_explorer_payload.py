"""What the latent explorer sends to the browser: JSON-ready, the folded decoder, the pad's data,
and the switch that turns it off."""
import base64
import json

import numpy as np
import pytest

from dae_core.export import decoder_arrays
from ui import explorer


def test_payload_is_json_and_carries_the_decoder_and_the_pad(tiny_model):
    rng = np.random.default_rng(0)
    d = tiny_model.latent_dim
    z = rng.normal(size=(300, d)).astype(np.float32)
    data = explorer.build_payload(tiny_model, z, rng.integers(0, 10, 300),
                                  rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), "tiny@1")
    assert json.loads(json.dumps(data)) == data  # plain JSON, nothing numpy left
    assert data["d"] == d and len(data["low"]) == len(data["high"]) == len(data["median"]) == d
    for name, array in decoder_arrays(tiny_model).items():
        sent = np.frombuffer(base64.b64decode(data["weights"][name]["b64"]), np.float32)
        np.testing.assert_array_equal(sent.reshape(data["weights"][name]["shape"]), array)
    n = min(300, explorer.PAD_POINTS)
    pad = data["pad"]
    assert len(base64.b64decode(pad["xy"])) == n * 2 * 4
    assert len(base64.b64decode(pad["codes"])) == n * d * 4
    assert len(base64.b64decode(pad["labels"])) == n
    assert data["sprite"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("value, on", [("off", False), ("0", False), ("OFF ", False),
                                       ("on", True), ("1", True), ("", True)])
def test_environment_switch(monkeypatch, value, on):
    monkeypatch.setenv(explorer.ENV, value)
    assert explorer.enabled() is on
