"""Bad input and faults in a real browser: refused uploads, the upload size limit, out-of-range
settings, a tab closed mid-training. The page shows one clear line and keeps working."""
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import error_texts, open_page, start_tiny_run, wait_idle  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
UPLOAD = '[data-testid="stFileUploaderDropzoneInput"]'
EXCEPTION = '[data-testid="stException"]'


def own_row_captions(page) -> list[str]:
    row = page.locator('[data-testid="stImage"]').last.locator('[data-testid="stImageContainer"]')
    return [t.strip() for t in row.all_inner_texts()]


def test_a_refused_upload_is_one_error_line_then_a_good_one_works(app, page):
    open_page(page, app.url, "Denoise")
    page.locator(UPLOAD).set_input_files(CORPUS / "uploads" / "not_an_image.png")
    error = page.get_by_text("Cannot use not_an_image.png: not a readable image")
    error.wait_for()
    wait_idle(page)
    assert error_texts(page) == [
        "Cannot use not_an_image.png: not a readable image (unknown format)"]
    assert page.locator(EXCEPTION).count() == 0
    page.locator(UPLOAD).set_input_files(CORPUS / "uploads" / "huge_8000x8000.jpg")  # replaces it
    page.get_by_text("Uploaded digit: the model's 28×28 view").wait_for()
    wait_idle(page)
    assert error_texts(page) == [] and own_row_captions(page)[0] == "28×28, centred"


def test_an_upload_over_max_upload_size_never_reaches_the_app(app, page, tmp_path):
    """.streamlit/config.toml sets server.maxUploadSize = 10 (MB)."""
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(11 * 2**20))
    open_page(page, app.url, "Denoise")
    page.locator(UPLOAD).set_input_files(big)
    page.get_by_text("File must be 10.0MB or smaller").wait_for()
    wait_idle(page)
    assert page.get_by_text("Uploaded digit:").count() == 0
    assert page.locator(EXCEPTION).count() == 0


def test_out_of_range_settings_are_marked_and_not_submitted(app, page):
    open_page(page, app.url, "Train")
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("0")
    page.get_by_label("Batch size", exact=True).fill("-64")
    page.get_by_role("button", name="Start").click()
    # A later interaction outside the form, whose rerun we can see: had the form been
    # submitted, that run would have come first.
    page.get_by_text("Log-scale loss axis").click()
    page.get_by_role("switch", name="Log-scale loss axis").and_(
        page.locator("[aria-checked=true], :checked")).wait_for()
    wait_idle(page)
    assert page.get_by_text("No run yet in this session").is_visible()
    assert page.locator('[data-testid="stProgress"]').count() == 0
    assert epochs.input_value() == "0"  # still there for the user to correct
    assert page.locator(EXCEPTION).count() == 0


def test_closing_a_tab_mid_training_leaves_the_app_serving_others(app, new_page):
    trainer = new_page()
    open_page(trainer, app.url, "Train")
    start_tiny_run(trainer, subset=1200, epochs=8)  # ends by itself in seconds: no lasting load
    trainer.context.close()  # the session's worker thread is orphaned (see docs/security.md)
    other = new_page()
    open_page(other, app.url, "Train")
    assert other.get_by_text("No run yet in this session").is_visible()  # not the closed one's
    open_page(other, app.url, "Denoise")
    assert error_texts(other) == []
