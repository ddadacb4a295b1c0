"""The confusion matrix as a clickable picture: each cell names its (true digit, cluster), and a
click's trigger value reads back as that cell (a click itself is driven in a real browser, in
tests/e2e/test_cluster_click.py)."""
import base64
import io
import re
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from dae_core.figures import MAP_BINS
from ui.heatmap import clicked_cell
from ui.svg_cluster import confusion_svg, density_svg

DIGITS, CLUSTERS = [0, 1, 2], [5, 3, 8]  # the matched order: clusters by their digit
COUNTS = np.array([[50, 1, 0], [2, 40, 7], [0, 3, 12]])
SVG = "{http://www.w3.org/2000/svg}"


def cells(svg: str) -> dict:
    """{(data-row, data-col): (count shown, tooltip, picked)} of the picture's cells."""
    root = ElementTree.fromstring(svg)
    return {(g.get("data-row"), g.get("data-col")): (g.find(f"{SVG}text").text, g.find(f"{SVG}title").text,
                                                     g.get("data-picked") == "true")
            for g in root.iter(f"{SVG}g") if g.get("class") == "cell"}


def test_each_cell_carries_its_digit_cluster_and_count():
    names = [f"{c}→{d}" for c, d in zip(CLUSTERS, DIGITS)]
    got = cells(confusion_svg(COUNTS, DIGITS, names, "Confusion", "cluster→digit", ids=CLUSTERS))
    assert len(got) == 9
    for i, digit in enumerate(DIGITS):
        for j, cluster in enumerate(CLUSTERS):
            count, tip, picked = got[(str(digit), str(cluster))]
            assert count == str(COUNTS[i, j]) and not picked
            assert tip == f"true digit {digit}, cluster→digit {names[j]}: {COUNTS[i, j]:,}"


def test_the_picked_cell_is_marked_and_outlined_and_cells_shade_with_their_count():
    svg = confusion_svg(COUNTS, DIGITS, CLUSTERS, "t", ids=CLUSTERS, picked=(1, 2))
    assert [key for key, (_, _, picked) in cells(svg).items() if picked] == [("1", "8")]
    assert 'stroke="#d62728"' in svg
    fills = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="36" height="36" fill="rgb\((\d+),(\d+),(\d+)\)"', svg)
    darkness = [765 - sum(map(int, f)) for f in fills]
    assert darkness.index(max(darkness)) == 0 and darkness[2] == min(darkness)  # 50 darkest, 0 lightest


def test_labels_from_files_are_text_never_markup():
    svg = confusion_svg(COUNTS[:1, :1], ["<b>x</b>"], ['"a&b"'], "<script>t</script>")
    assert "<script>" not in svg and "<b>" not in svg
    assert list(cells(svg)) == [("<b>x</b>", '"a&b"')]  # escaped in the file, read back as written


@pytest.mark.parametrize("state, cell", [
    ({"cell": ["7", "4"]}, (7, 4)),
    ({"cell": None}, None),  # the trigger after its rerun
    ({}, None), (None, None), ({"cell": ["7"]}, None), ({"cell": ["x", "4"]}, None)])
def test_a_click_reads_back_as_its_cell(state, cell):
    assert clicked_cell(state) == cell


def test_the_map_is_one_picture_whatever_the_number_of_points_with_a_legend_per_label():
    rng = np.random.default_rng(0)
    small = density_svg(rng.normal(size=(480, 2)), rng.integers(0, 10, 480), "map", "digit")
    large = density_svg(rng.normal(size=(48_000, 2)), rng.integers(0, 10, 48_000), "map", "digit")
    root = ElementTree.fromstring(large)
    (image,) = root.iter(f"{SVG}image")
    assert image.get("href").startswith("data:image/png;base64,")
    assert [t.text for t in root.iter(f"{SVG}text")][2:] == [str(i) for i in range(10)]  # title, legend title
    # one PNG of MAP_BINS pixels (120 x 200 x 3 bytes before compression, base64) for any number
    picture = Image.open(io.BytesIO(base64.b64decode(image.get("href").split(",", 1)[1])))
    assert picture.size == MAP_BINS[::-1] and max(len(small), len(large)) < 4 / 3 * 72_000 + 5_000
