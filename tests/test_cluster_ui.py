"""A click on a confusion heatmap names its cell: cell_from_selection reads st.plotly_chart's
selection state (the shape Streamlit documents for PlotlyState) into (true digit, cluster)."""
import numpy as np
import pytest

from dae_core.figures import confusion_heatmap
from ui.cluster_ui import cell_from_selection

DIGITS, CLUSTERS = [0, 1, 2], np.array([5, 3, 8])  # the matched order: clusters by their digit
COUNTS = np.arange(9).reshape(3, 3)


def selection(*points) -> dict:
    """The selection state of st.plotly_chart with these points selected."""
    return {"selection": {"points": list(points),
                          "point_indices": [p["point_index"] for p in points],
                          "box": [], "lasso": []}}


def marker_point(row: int, col: int) -> dict:
    """What the browser reports for a click on cell (row, col): the cells' layer's point there."""
    fig = confusion_heatmap(COUNTS, DIGITS, [f"{c}→{d}" for c, d in zip(CLUSTERS, DIGITS)],
                            "t", ids=CLUSTERS)
    cells = fig.data[1]
    index = row * len(CLUSTERS) + col
    return {"curve_number": 1, "point_number": index, "point_index": index,
            "x": cells.x[index], "y": cells.y[index], "customdata": list(cells.customdata[index])}


def heatmap_point(row: int, col: int) -> dict:
    """A point of the heatmap layer itself: it has a count, and no customdata."""
    return {"curve_number": 0, "point_number": [row, col], "point_index": [row, col],
            "x": f"{CLUSTERS[col]}→{DIGITS[col]}", "y": str(DIGITS[row]), "z": int(COUNTS[row, col])}


@pytest.mark.parametrize("row, col", [(0, 0), (2, 1), (1, 2)])
def test_a_click_on_a_cell_names_its_digit_and_its_cluster_id(row, col):
    cell = cell_from_selection(selection(marker_point(row, col)))
    assert cell == (DIGITS[row], int(CLUSTERS[col]))  # the cluster's id, not its column
    assert all(type(v) is int for v in cell)


@pytest.mark.parametrize("state", [
    None,  # the chart's key is not in session_state yet
    {"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}},  # a deselect
    {},
], ids=["no state", "empty selection", "no selection key"])
def test_nothing_selected_names_no_cell(state):
    assert cell_from_selection(state) is None


def test_a_point_of_the_heatmap_layer_names_no_cell():
    assert cell_from_selection(selection(heatmap_point(2, 1))) is None


def test_the_cells_layer_point_is_used_when_the_heatmap_is_reported_first():
    assert cell_from_selection(selection(heatmap_point(2, 1), marker_point(2, 1))) == (2, 3)
