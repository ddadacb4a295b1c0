"""The latent explorer in a real browser: it draws what PyTorch decodes, dragging redraws without
talking to the server, pad and sliders follow each other, a model switch reloads the decoder,
a cached UMAP map offers a UMAP pad whose projection and lift are ui.export's, and with the
explorer off the page shows the server-side sliders."""
import numpy as np
import pytest

from dae_core import checkpoint
from dae_core.analysis.latent import decode
from dae_harness.browser import ROOT, choose, open_page, start_server, stop_server, wait_idle
from dae_harness.explorer import (
    HOST,
    drag,
    pad_box,
    pad_data,
    project_and_lift,
    render,
    slider_box,
    state,
    wait_ready,
    wait_sent,
)
from ui.export import lift, project

SHIPPED = sorted((p.stem for p in (ROOT / "checkpoints").glob("*.pt")), key=lambda n: n != "reference-d4")
CODES = 100  # random codes per model


def websocket_counter(page) -> list:
    """A list that grows by one for every websocket message the page sends from now on."""
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    return sent


def switch_model(page, name: str) -> None:
    """Pick `name` in the sidebar; wait for the page to finish and the explorer to draw it."""
    choose(page, "Model", name, sidebar=True)
    page.get_by_text(f"Model {name}:").first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    wait_ready(page, name, 120_000)


@pytest.fixture(scope="module")
def explorer_app(tmp_path_factory):
    """A server with the explorer on (the shared `app` server runs with it off)."""
    base = tmp_path_factory.mktemp("explorer")
    proc, url = start_server(base, log=base / "server.log", env={"DAE_EXPLORER": "on"})
    try:
        yield url
    finally:
        stop_server(proc)
    text = (base / "server.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


@pytest.fixture
def generate(page, explorer_app):
    sent = websocket_counter(page)
    open_page(page, explorer_app, "Generate")
    wait_ready(page, "reference-d4")
    return page, sent


def test_browser_images_match_pytorch_for_every_shipped_model(generate):
    page, _ = generate
    for name in SHIPPED:
        if name != "reference-d4":
            switch_model(page, name)
        model = checkpoint.load(ROOT / "checkpoints" / f"{name}.pt").model
        s = state(page)
        low, high = np.array(s["low"]), np.array(s["high"])
        rng = np.random.default_rng(0)
        span = high - low  # the slider box and a margin of half its size on each side
        z = rng.uniform(low - span / 2, high + span / 2, (CODES, s["d"])).astype(np.float32)
        expected = np.round(np.clip(decode(model, z), 0, 1) * 255).reshape(CODES, -1)
        got = np.array(render(page, z))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 2, name


def test_dragging_the_pad_redraws_and_sends_only_the_released_code(generate):
    page, sent = generate
    before = state(page)
    box = pad_box(page)
    wait_idle(page)
    sent.clear()
    path = [(0.2 + 0.6 * t / 40, 0.3 + 0.4 * t / 40) for t in range(41)]
    drag(page, path, box, hold_last=True)
    during = state(page)
    assert len(sent) == 0  # 40 moves, not one message to the server
    assert during["frames"] > before["frames"] + 5 and during["preview"] != before["preview"]
    # the marker sits under the pointer; the sliders show the lifted code
    assert during["pad"] == pytest.approx([0.8, 0.7], abs=0.02)
    assert during["projected"] == pytest.approx(during["pad"], abs=1e-3)
    code, low, high = (np.array(during[k]) for k in ("code", "low", "high"))
    np.testing.assert_allclose(during["sliders"], np.clip(code, low, high), atol=1e-3 * (high - low).max())
    page.mouse.up()
    wait_sent(page, sent)
    wait_idle(page)
    assert 1 <= len(sent) <= 3  # the released code


def test_a_slider_drag_moves_the_pad_marker(generate):
    page, sent = generate
    before = state(page)
    box = slider_box(page, 0)
    wait_idle(page)
    sent.clear()
    drag(page, [(0.5, 0.5)] + [(0.5 - 0.45 * t / 20, 0.5) for t in range(1, 21)], box,
         hold_last=True)
    s = state(page)
    assert len(sent) == 0 and s["frames"] > before["frames"] + 3
    assert s["code"][0] < before["code"][0] and s["code"][1:] == pytest.approx(before["code"][1:])
    assert s["pad"] != before["pad"]
    assert s["pad"] == pytest.approx(s["projected"], abs=1e-3)  # the marker follows the code
    page.mouse.up()
    wait_sent(page, sent)
    wait_idle(page)
    assert 1 <= len(sent) <= 3


def test_switching_the_model_reloads_the_decoder(generate):
    page, _ = generate
    switch_model(page, "denoise-d10")
    s = state(page)
    assert s["d"] == 10 and len(s["sliders"]) == 10
    assert page.locator(f'{HOST} input[type="range"]').count() == 10
    model = checkpoint.load(ROOT / "checkpoints" / "denoise-d10.pt").model
    z = np.array([s["code"]], np.float32)
    expected = np.round(decode(model, z) * 255).reshape(-1)
    assert np.abs(np.array(render(page, z)[0]) - expected).max() <= 2


def choose_pad_map(page, option: str, projection: str) -> None:
    group = page.locator('[data-testid="stButtonGroup"]', has=page.get_by_text("Pad map", exact=True))
    group.locator("button", has_text=option).click()
    page.wait_for_function(f"p => document.querySelector('{HOST}').daeExplorer.projection === p",
                           arg=projection)
    wait_idle(page)


def test_a_cached_umap_map_gives_a_umap_pad_that_decodes_and_matches_python(generate):
    page, sent = generate
    assert page.get_by_text("Pad map", exact=True).count() == 0  # reference-d4: no UMAP map cached
    switch_model(page, "cluster-d10-refined")  # its UMAP map is shipped in checkpoints/cache
    page.get_by_text("Pad map", exact=True).wait_for()
    umap = state(page)
    assert umap["projection"] == "umap"  # the default where a map is cached
    choose_pad_map(page, "PCA", "pca")
    pca = state(page)
    assert pca["scatter"] != umap["scatter"] and pca["code"] == umap["code"]  # redrawn, same code
    choose_pad_map(page, "UMAP", "umap")
    assert state(page)["scatter"] == umap["scatter"]

    xy, codes = (np.array(a, np.float64) for a in pad_data(page))
    rng = np.random.default_rng(0)
    z = codes[rng.choice(len(codes), 3)] + rng.normal(0, 0.3, (3, codes.shape[1]))
    points = xy[rng.choice(len(xy), 3)] + rng.normal(0, 0.2, (3, 2))
    js_project, js_lift = (np.array(a) for a in project_and_lift(page, z, points))
    np.testing.assert_allclose(js_project, [project(c, xy, codes) for c in z], atol=1e-4)
    np.testing.assert_allclose(js_lift, [lift(p, xy, codes) for p in points], atol=1e-4)

    before, box = state(page), pad_box(page)
    wait_idle(page)
    sent.clear()
    drag(page, [(0.3 + 0.4 * t / 20, 0.6 - 0.3 * t / 20) for t in range(21)], box, hold_last=True)
    during = state(page)
    assert len(sent) == 0 and during["frames"] > before["frames"] + 3
    assert during["preview"] != before["preview"] and during["code"] != before["code"]
    assert during["pad"] == pytest.approx(during["projected"], abs=1e-3)  # the marker: project(z)
    code, low, high = (np.array(during[k]) for k in ("code", "low", "high"))
    np.testing.assert_allclose(during["sliders"], np.clip(code, low, high), atol=1e-3 * (high - low).max())
    page.mouse.up()
    wait_sent(page, sent)
    wait_idle(page)


def test_a_sample_or_test_digit_moves_the_explorer_and_the_interpolation_takes_its_code(generate):
    page, _ = generate
    before = state(page)["code"]
    page.get_by_role("button", name="Explore sample #1").click()
    page.wait_for_function(f"c => JSON.stringify(document.querySelector('{HOST}').daeExplorer.code()) "
                           "!== JSON.stringify(c)", arg=before)
    wait_idle(page)
    page.get_by_text("From the explorer's code").click()
    page.get_by_text("the explorer's code → test #1").wait_for()
    wait_idle(page)
    strip = page.locator('[data-testid="stImage"]', has_text="the explorer's code").locator("img")
    src = strip.get_attribute("src")
    drag(page, [(0.3, 0.3), (0.6, 0.5), (0.7, 0.6)], pad_box(page))  # a release reruns the page
    page.wait_for_function("([sel, src]) => { const i = [...document.querySelectorAll(sel)].find("
                           "e => e.innerText.includes(\"the explorer's code\")); "
                           "return i && i.querySelector('img').src !== src; }",
                           arg=['[data-testid="stImage"]', src])


def test_with_the_explorer_off_the_page_shows_server_sliders(page, app):
    open_page(page, app.url, "Generate")  # the shared server runs with DAE_EXPLORER=off
    page.get_by_text("The in-browser explorer is off").wait_for()
    assert page.locator(HOST).count() == 0
    sliders = page.locator('[data-testid="stSlider"] input[type="range"][aria-label^="z"]')
    sliders.nth(3).wait_for()  # the notice is drawn before the sliders
    assert sliders.count() == 4


def test_a_browser_the_explorer_cannot_run_in_gets_the_server_sliders(new_page, explorer_app):
    page = new_page()
    page.add_init_script("delete window.PointerEvent")  # as an old browser would lack it
    page.goto(f"{explorer_app}/Generate")
    page.get_by_text("The in-browser explorer could not start").wait_for(timeout=120_000)
    wait_idle(page)
    assert page.locator(HOST).count() == 0
    assert page.locator('[data-testid="stSlider"] input[aria-label="z0"]').count() == 1
