"""The explorer's JavaScript on a blank page, for models the app may meet but does not ship:
every latent size from 2 to 64 and wider decoders draw what PyTorch decodes (within 2/255)."""
import numpy as np
import pytest
import torch

from dae_core.analysis.latent import decode
from dae_core.model import DenoisingAutoencoder
from ui.explorer import ASSETS, build_payload

MOUNT = """async ([js, data]) => {
    const url = URL.createObjectURL(new Blob([js], {type: 'text/javascript'}));
    const mod = await import(url);
    const host = document.createElement('div');
    document.body.appendChild(host);
    const root = host.attachShadow({mode: 'open'});
    window.__states = [];
    mod.default({data, parentElement: root, setStateValue: (k, v) => window.__states.push([k, v])});
    window.__explorer = host.daeExplorer;
    return window.__states;
}"""


def random_model(d: int, width: int) -> DenoisingAutoencoder:
    torch.manual_seed(d + 100 * width)
    model = DenoisingAutoencoder(d, width)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("d, width", [(2, 1), (16, 2), (64, 1), (8, 3)])
def test_javascript_decoder_matches_pytorch(page, d, width):
    model = random_model(d, width)
    rng = np.random.default_rng(d)
    z_train = rng.normal(0, 1, (500, d)).astype(np.float32)
    images = rng.integers(0, 256, (500, 28, 28), dtype=np.uint8)
    data = build_payload(model, z_train, rng.integers(0, 10, 500), images, f"random-d{d}-w{width}")
    page.goto("about:blank")
    states = page.evaluate(MOUNT, [(ASSETS / "explorer.js").read_text(), data])
    assert states == []  # no failure reported
    z = rng.normal(0, 1.5, (100, d)).astype(np.float32)
    got = np.array(page.evaluate("codes => window.__explorer.render(codes)", z.tolist()))
    expected = np.round(decode(model, z) * 255).reshape(100, -1)
    assert np.abs(got - expected).max() <= 2
    assert page.evaluate("() => window.__explorer.inputs.length") == d


def test_bad_data_reports_a_failure_instead_of_throwing(page):
    page.goto("about:blank")
    states = page.evaluate(MOUNT, [(ASSETS / "explorer.js").read_text(), {"model": "broken"}])
    assert len(states) == 1 and states[0][0] == "failed" and states[0][1]


def test_an_error_while_drawing_reports_a_failure(page):
    rng = np.random.default_rng(0)
    data = build_payload(random_model(4, 1), rng.normal(size=(50, 4)).astype(np.float32),
                         rng.integers(0, 10, 50), np.zeros((50, 28, 28), np.uint8), "m")
    page.goto("about:blank")
    page.evaluate(MOUNT, [(ASSETS / "explorer.js").read_text(), data])
    page.evaluate("() => { window.__explorer.decoder.run = () => { throw new Error('boom'); }; "
                  "window.__explorer.schedule(); }")
    page.wait_for_function("() => window.__states.length > 0")
    assert page.evaluate("() => window.__states") == [["failed", "boom"]]
