"""Each page in a real browser: loads with no error box; the main interaction of each works."""
import re
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import (LAST, LOSS_POINTS, PAGES, choose, error_texts,  # noqa: E402
                                 loss_points, move_slider, open_page, picker_options,
                                 start_tiny_run, stop_and_save, wait_idle)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_loads_without_an_error_box(app, page, name):
    open_page(page, app.url, name)
    assert error_texts(page) == []
    assert page.get_by_text(LAST[name], exact=True).first.is_visible()
    assert picker_options(page)[0] == "reference-d4"  # the shared sidebar opens on the reference


def test_generate_a_latent_slider_redraws_the_preview(app, page):
    open_page(page, app.url, "Generate")
    caption = page.locator('[data-testid="stImage"]', has_text="z = (")
    before = caption.inner_text()
    for _ in range(4):
        move_slider(page, "z0")  # each waits for a new picture
    assert caption.inner_text() != before
    assert error_texts(page) == []


def test_cluster_shows_the_heatmap_and_the_accuracy(app, page):
    open_page(page, app.url, "Cluster")
    cells = page.locator(".st-key-heat_matched g.cell")  # Playwright's locators enter shadow roots
    cells.first.wait_for()
    assert cells.count() == 100 and cells.first.locator("rect").bounding_box()["width"] > 10
    metric = page.locator('[data-testid="stMetric"]', has_text="Accuracy (Hungarian)")
    accuracy = metric.locator('[data-testid="stMetricValue"]').inner_text()
    assert accuracy.endswith("%") and 50 < float(accuracy[:-1]) <= 100  # the reference: 71.7%
    assert error_texts(page) == []


def test_cluster_map_is_a_density_picture_and_all_points_are_one_toggle_away(app, page):
    open_page(page, app.url, "Cluster")
    assert page.locator(".js-plotly-plot").count() == 0  # no charting code until asked for
    picture = '[data-testid="stMain"] [data-testid="stImage"] img[src^="data:image/svg+xml"]'
    page.wait_for_function(f"""() => {{ const i = document.querySelectorAll('{picture}');
        return i.length === 1 && i[0].complete && i[0].naturalWidth > 0; }}""")  # the map drawn
    page.get_by_text("Draw all 48,000 points").click()
    chart = page.locator(".st-key-map .js-plotly-plot")
    page.wait_for_function("""() => {
        const g = document.querySelector('.st-key-map .js-plotly-plot');
        return g && g.data && g.data.length === 10 && g.data.every(t => t.type === 'scattergl');
    }""")
    wait_idle(page)
    # x as an array, or as Plotly's typed-array spec {dtype, bdata} (NumPy arrays: f4 or f8)
    count = """g => g.data.reduce((n, t) => n + (t.x.length
        ?? atob(t.x.bdata).length / (String(t.x.dtype).endsWith('f4') ? 4 : 8)), 0)"""
    assert chart.evaluate(count) == 48_000
    assert error_texts(page) == []


def test_train_a_tiny_run_watch_it_stop_it_save_it_and_pick_it(app, page):
    open_page(page, app.url, "Train")
    start_tiny_run(page)
    grown = f"n => ({LOSS_POINTS})() > n"
    page.wait_for_function(grown, arg=0, timeout=20_000)
    page.wait_for_function(grown, arg=loss_points(page), timeout=20_000)  # the chart grows
    stop_and_save(page, "e2e-tiny")
    assert page.get_by_text(re.compile(r"Stopped during epoch \d+.*Kept the weights after epoch \d+")).first.is_visible()
    assert (app.runs / "e2e-tiny.pt").is_file()
    assert "e2e-tiny (saved run)" in picker_options(page)
    choose(page, "Model", "e2e-tiny (saved run)", sidebar=True)
    page.locator('[data-testid="stSidebar"]').get_by_text("gaussian 0.3 ·").first.wait_for()
    wait_idle(page)
    assert error_texts(page) == []


def test_denoise_an_uploaded_png(app, page):
    open_page(page, app.url, "Denoise")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        CORPUS / "uploads" / "control_digit.png")
    page.get_by_text("Uploaded digit: the model's 28×28 view").wait_for()
    wait_idle(page)
    # the last row: the model's 28x28 view, its input, the reconstruction (with MSE and PSNR)
    row = page.locator('[data-testid="stImage"]').last.locator('[data-testid="stImageContainer"]')
    captions = [t.strip() for t in row.all_inner_texts()]
    assert len(captions) == 3 and captions[:2] == ["28×28, centred", "no noise added"]
    assert captions[2].endswith("dB")
    loaded = "i => i.complete && i.naturalWidth > 0"
    page.wait_for_function(loaded, arg=row.nth(2).locator("img").element_handle())
    assert error_texts(page) == []
