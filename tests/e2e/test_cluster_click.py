"""Cluster page in a real browser: a click on a confusion-matrix cell shows that cell's images, the
cell's dropdowns follow and the cell is outlined, in both orders of the clusters."""
import re

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import LAST, PAGES, combobox, error_texts, wait_idle

URL = "?model=reference-d4&method=kmeans&k=10&cluster_seed=0"
# (row, column, rows, columns) of the cell whose point in the cells' layer has customdata [digit,
# cluster]; -1s when there is none
CELL_AT = """(g, [digit, cluster]) => {
    const [heat, cells] = g.data;
    const i = cells.customdata.findIndex(c => c[0] === digit && c[1] === cluster);
    return [heat.y.indexOf(cells.y[i]), heat.x.indexOf(cells.x[i]), heat.y.length, heat.x.length];
}"""


def chart(page, key: str):
    """The Plotly graph div of heatmap `key`."""
    return page.locator(f".st-key-{key} .js-plotly-plot")


def click_cell(page, key: str, digit: int, cluster: int) -> None:
    """Click, with the mouse, the centre of the cell (digit, cluster) of heatmap `key`: the plot
    area divided into the heatmap's rows (top to bottom) and columns; the cell's column is found
    from the customdata of the cells' layer, so that it works in either cluster order."""
    graph = chart(page, key)
    row, col, n_rows, n_cols = graph.evaluate(CELL_AT, [digit, cluster])
    assert row >= 0 and col >= 0, f"no cell ({digit}, {cluster}) on {key}"
    graph.scroll_into_view_if_needed()  # the mouse reaches only what is in the viewport
    area = graph.locator(".nsewdrag").first.bounding_box()  # the plot area, axes excluded
    x = area["x"] + (col + 0.5) * area["width"] / n_cols
    y = area["y"] + (row + 0.5) * area["height"] / n_rows  # rows top to bottom (reversed axis)
    page.mouse.move(x, y)  # Plotly selects the point under the pointer: hover first, then click
    page.mouse.click(x, y)


def outlined(page, key: str) -> tuple[str, str]:
    """(row label, column label) of the cell outlined on heatmap `key`."""
    return tuple(chart(page, key).evaluate(
        "g => { const s = g.layout.shapes[0], heat = g.data[0];"
        " return [heat.y[Math.round(s.y0 + 0.5)], heat.x[Math.round(s.x0 + 0.5)]]; }"))


def shown(page, digit: int, cluster: int) -> None:
    """Wait until the page shows the images of cell (digit, cluster) and has finished its run."""
    page.get_by_text(re.compile(rf"images? of digit {digit} fell in cluster {cluster};")).wait_for()
    wait_idle(page)


def test_clicking_a_cell_shows_its_images_and_the_dropdowns_follow(app, page):
    page.goto(f"{app.url}/{PAGES['Cluster']}{URL}")
    page.get_by_text(LAST["Cluster"], exact=True).first.wait_for(timeout=90_000)
    wait_idle(page, 90_000)
    chart(page, "heat_matched").wait_for()
    assert combobox(page, "True digit") != "7"  # the default cell is not the one clicked below

    click_cell(page, "heat_matched", 7, 4)
    shown(page, 7, 4)
    assert combobox(page, "True digit") == "7"
    assert combobox(page, "Cluster (most images of this digit first)").startswith("4, matched to ")
    row, column = outlined(page, "heat_matched")
    assert row == "7" and column.startswith("4→")

    page.get_by_role("tab", name="Raw cluster order").click()
    chart(page, "heat_raw").wait_for()
    click_cell(page, "heat_raw", 2, 9)
    shown(page, 2, 9)
    assert combobox(page, "True digit") == "2"
    assert combobox(page, "Cluster (most images of this digit first)").startswith("9, matched to ")
    assert outlined(page, "heat_raw") == ("2", "9")
    assert page.locator('[data-testid="stImage"]').count() == 1  # the cell's image grid
    assert error_texts(page) == []
