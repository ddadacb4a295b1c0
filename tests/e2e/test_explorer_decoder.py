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


def test_a_split_model_gets_a_digit_dial_and_style_sliders(page):
    from dae_core.split import SplitAutoencoder, SplitConfig

    torch.manual_seed(0)
    model = SplitAutoencoder(SplitConfig(style_dim=3)).eval()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 600)
    cls = (labels + 1) % 10  # class c of the class part holds the digit c - 1
    z_train = np.concatenate([np.eye(10)[cls] * 0.9 + 0.01, rng.normal(cls[:, None], 1.0, (600, 3))],
                             axis=1).astype(np.float32)
    data = build_payload(model, z_train, labels, np.zeros((600, 28, 28), np.uint8), "split")
    page.goto("about:blank")
    assert page.evaluate(MOUNT, [(ASSETS / "explorer.js").read_text(), data]) == []
    root = "window.__explorer.root"
    digits = page.evaluate(f"() => Array.from({root}.querySelectorAll('button.digit'), b => b.textContent)")
    assert digits == [str(k) for k in range(10)]
    names = page.evaluate(f"() => Array.from({root}.querySelectorAll('.slider .name'), s => s.textContent)")
    assert names == ["style 1", "style 2", "style 3"]  # no slider for a class probability

    page.evaluate(f"() => {root}.querySelector('button[aria-label=\"digit 3\"]').click()")
    z = np.array(page.evaluate("() => window.__explorer.code()"))
    assert z[:10].argmax() == 4 and page.evaluate(f"() => {root}.dataset.digit") == "3"
    assert page.evaluate("() => window.__states.at(-1)[0]") == "code"  # the choice goes to Python
    low, high = np.percentile(z_train[cls == 4, 10], [1, 99])
    bounds = page.evaluate(f"() => {{ const s = {root}.querySelector('input[aria-label=\"style 1\"]');"
                           " return [parseFloat(s.min), parseFloat(s.max)]; }")
    assert bounds == pytest.approx([low, high], rel=1e-4)  # the style dial spans that digit's styles
    assert low <= z[10] <= high
    got = np.array(page.evaluate("codes => window.__explorer.render(codes)", [z.tolist()]))
    assert np.abs(got - np.round(decode(model, z[None].astype(np.float32)) * 255).reshape(1, -1)).max() <= 2


def test_a_split_model_s_nearest_digit_is_of_the_digit_its_dial_names(page):
    """With the digit dial on 3, the nearest training digit is a 3, even where another digit's
    code has the very same style (its style numbers span far more than the class probabilities)."""
    from dae_core.split import SplitAutoencoder, SplitConfig

    torch.manual_seed(0)
    model = SplitAutoencoder(SplitConfig(style_dim=3)).eval()
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 600)
    cls = (labels + 1) % 10  # class c of the class part holds the digit c - 1
    style = rng.normal(0, 1.0, (600, 3)) + 10.0 * (cls == 4)[:, None]  # the 3s write apart from the rest
    z_train = np.concatenate([np.eye(10)[cls] * 0.9 + 0.01, style], axis=1).astype(np.float32)
    data = build_payload(model, z_train, labels, np.zeros((600, 28, 28), np.uint8), "split")
    page.goto("about:blank")
    assert page.evaluate(MOUNT, [(ASSETS / "explorer.js").read_text(), data]) == []
    page.wait_for_function("() => window.__explorer.sprite.complete && window.__explorer.sprite.naturalWidth > 0")
    page.evaluate("() => window.__explorer.root.querySelector('button[aria-label=\"digit 3\"]').click()")
    other = int(np.flatnonzero(cls == 5)[0])  # a 4, whose style the code now takes
    shown = page.evaluate("""style => { const e = window.__explorer;
        style.forEach((v, k) => { e.z[10 + k] = v; }); e.safeDraw(); return e.nearestText.textContent; }""",
                          z_train[other, 10:].tolist())
    assert shown == "nearest training digit: a 3"
