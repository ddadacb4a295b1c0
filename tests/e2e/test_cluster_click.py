"""Cluster page in a real browser: a click on a confusion-matrix cell shows that cell's images, the
cell's dropdowns follow and the cell is outlined, in both orders of the clusters."""
import re

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import LAST, PAGES, combobox, error_texts, wait_idle

URL = "?model=reference-d4&method=kmeans&k=10&cluster_seed=0"


def cell(page, key: str, digit: int, cluster: int):
    """The cell (digit, cluster) of the clickable confusion picture `key` (in its shadow root,
    which Playwright's locators enter)."""
    return page.locator(f'.st-key-{key} g.cell[data-row="{digit}"][data-col="{cluster}"]')


def click_cell(page, key: str, digit: int, cluster: int) -> None:
    """Click, with the mouse, the centre of cell (digit, cluster) of heatmap `key`."""
    target = cell(page, key, digit, cluster)
    target.scroll_into_view_if_needed()  # the mouse reaches only what is in the viewport
    target.click()


def outlined(page, key: str) -> tuple[str, str]:
    """(true digit, cluster) of the cell outlined on heatmap `key`."""
    picked = page.locator(f'.st-key-{key} g.cell[data-picked="true"]')
    return picked.get_attribute("data-row"), picked.get_attribute("data-col")


def shown(page, digit: int, cluster: int) -> None:
    """Wait until the page shows the images of cell (digit, cluster) and has finished its run."""
    page.get_by_text(re.compile(rf"images? of digit {digit} fell in cluster {cluster};")).wait_for()
    wait_idle(page)


def test_clicking_a_cell_shows_its_images_and_the_dropdowns_follow(app, page):
    page.goto(f"{app.url}/{PAGES['Cluster']}{URL}")
    page.get_by_text(LAST["Cluster"], exact=True).first.wait_for(timeout=90_000)
    wait_idle(page, 90_000)
    cell(page, "heat_matched", 7, 4).wait_for()
    assert combobox(page, "True digit") != "7"  # the default cell is not the one clicked below

    click_cell(page, "heat_matched", 7, 4)
    shown(page, 7, 4)
    assert combobox(page, "True digit") == "7"
    assert combobox(page, "Cluster (most images of this digit first)").startswith("4, matched to ")
    row, column = outlined(page, "heat_matched")
    assert (row, column) == ("7", "4")

    page.get_by_role("tab", name="Raw cluster order").click()
    cell(page, "heat_raw", 2, 9).wait_for()
    click_cell(page, "heat_raw", 2, 9)
    shown(page, 2, 9)
    assert combobox(page, "True digit") == "2"
    assert combobox(page, "Cluster (most images of this digit first)").startswith("9, matched to ")
    assert outlined(page, "heat_raw") == ("2", "9")
    # the map and the cell's image grid (the sidebar has the loss curve's)
    assert page.locator('[data-testid="stMain"] [data-testid="stImage"]').count() == 2
    assert error_texts(page) == []
