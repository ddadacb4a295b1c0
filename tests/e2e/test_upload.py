"""The sidebar's checkpoint files in a real browser: open one, pick it, download it; a hostile or
broken file is one error line, never an exception box, and its payload never runs."""
import json
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from dae_harness.browser import choose, error_texts, open_page, wait_idle  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
REFUSED = sorted(n for n, case in MANIFEST.items() if n.startswith("checkpoints/")
                 and not case["accept"])
D8 = CORPUS / "checkpoints" / "latent_d8.pt"
MARKER = Path("/tmp/dae-lab-corpus-marker")  # where the corpus payloads write (the server's env)
EXCEPTION = '[data-testid="stException"]'
# The popover's body is drawn outside the sidebar's element, and only while it is open.
UPLOADER = '[data-testid="stPopoverBody"] [data-testid="stFileUploaderDropzoneInput"]'
ERROR = '[data-testid="stAlertContentError"]'
TOAST = '[data-testid="stToast"]'


def open_file(page, path: Path) -> None:
    """Put `path` into the sidebar's 'Open a checkpoint file' uploader (opening its popover)."""
    uploader = page.locator(UPLOADER)
    if uploader.count() == 0:
        page.locator('[data-testid="stSidebar"] [data-testid="stPopoverButton"]').click()
    uploader.set_input_files(path)


def in_sight(locator, timeout: float = 10_000) -> bool:
    """Whether the element at the middle of `locator` is that element (or inside it), drawn on top
    and not covered by an open popover, within `timeout` ms (a popover closes over a few frames)."""
    try:
        locator.page.wait_for_function("""e => { const r = e.getBoundingClientRect();
            return e.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }""",
                                       arg=locator.element_handle(), timeout=timeout)
    except PlaywrightTimeout:
        return False
    return True


def card(page) -> str:
    """The model card's first line (d=… · width … · epochs · seed)."""
    return page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]').first \
        .inner_text().strip()


def test_open_a_checkpoint_file_pick_it_and_download_it(app, page):
    open_page(page, app.url, "home")
    open_file(page, D8)
    page.get_by_text("is listed as latent_d8 (uploaded)").wait_for()
    wait_idle(page)
    page.keyboard.press("Escape")  # close the popover
    picker = page.locator('[data-testid="stSidebar"] input[role="combobox"][aria-label="Model"]')
    assert picker.input_value() == "latent_d8 (uploaded)"  # selected in the browser too
    assert card(page).startswith("d=8 ·") and error_texts(page) == []
    choose(page, "Model", "reference-d4", sidebar=True)
    page.get_by_text("d=4 ·").first.wait_for()
    choose(page, "Model", "latent_d8 (uploaded)", sidebar=True)
    page.get_by_text("d=8 ·").first.wait_for()
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download latent_d8.pt").click()
    assert download.value.suggested_filename == "latent_d8.pt"
    assert Path(download.value.path()).read_bytes() == D8.read_bytes()
    assert page.locator(EXCEPTION).count() == 0


def test_hostile_and_broken_files_are_one_line_refusals(app, page):
    assert not MARKER.exists()
    open_page(page, app.url, "home")
    for name in REFUSED:
        file = CORPUS / name
        open_file(page, file)  # each file replaces the last one in the uploader
        page.locator(ERROR, has_text=file.name).wait_for()
        wait_idle(page)
        errors = error_texts(page)
        assert len(errors) == 1 and errors[0].startswith(file.name), (name, errors)
        assert MANIFEST[name]["words"] in errors[0] and "\n" not in errors[0]
        assert page.locator(EXCEPTION).count() == 0
        # In sight: a toast while the popover is open (its panel covers the sidebar around its
        # button), and the line in the sidebar once it is closed.
        assert in_sight(page.locator(TOAST, has_text=file.name).last), name
        page.keyboard.press("Escape")
        page.locator('[data-testid="stPopoverBody"]').wait_for(state="hidden")
        assert in_sight(page.locator(ERROR, has_text=file.name)), name
    assert card(page).startswith("d=4 ·")  # the reference model is still the one selected
    assert not MARKER.exists(), "a checkpoint's payload ran in the server"
