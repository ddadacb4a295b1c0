"""The Cluster page renders against the shipped checkpoint, scores it, and reacts to its widgets."""
import json

import pytest

PAGE = "4_Cluster.py"


@pytest.fixture(scope="module")
def app(app_test):
    """One AppTest shared by the tests below: the codes and the clustering are computed once."""
    return app_test(PAGE, timeout=90)


def metric(at, label: str):
    return next(m for m in at.metric if m.label == label)


def test_page_renders_the_scores_of_the_shipped_model(app):
    assert app.session_state["checkpoint_name"] == "reference-d4"
    accuracy = metric(app, "Accuracy (Hungarian)")
    assert 0.6 < float(accuracy.value) < 0.8  # k-means on reference-d4 scores ~0.717
    assert 0.6 < float(accuracy.proto.delta) < 0.8  # the test-set score beside it
    assert 0 < float(metric(app, "NMI").value) <= 1 and -1 <= float(metric(app, "ARI").value) <= 1


def test_page_shows_the_heatmaps_and_the_map(app):
    charts = {c.proto.id.split("-")[-1]: json.loads(c.proto.spec) for c in app.get("plotly_chart")}
    for key in ("heat_matched", "heat_raw"):
        assert charts[key]["data"][0]["type"] == "heatmap"
        assert len(charts[key]["data"][0]["x"]) == 10  # one column per cluster
    assert {trace["type"] for trace in charts["map"]["data"]} == {"scattergl"}
    assert len(app.get("image")) == 1  # the sample images of the default (digit, cluster) cell


def test_changing_k_to_5_reclusters(app):
    app.number_input(key="cluster_k").set_value(5).run()
    assert not app.exception
    assert 0.3 < float(metric(app, "Accuracy (Hungarian)").value) < 0.6  # 5 clusters for 10 digits
    app.number_input(key="cluster_k").set_value(10).run()


def test_picking_a_cell_shows_its_images(app):
    app.selectbox(key="cell_digit").set_value(7).run()
    assert not app.exception
    assert any("images of digit 7" in c.value for c in app.caption)
    assert len(app.get("image")) == 1


def test_pixel_baseline_on_demand(app):
    assert not any("pixels" in m.label for m in app.metric)
    app.toggle(key="baseline_on").set_value(True).run()
    assert not app.exception
    assert 0.3 < float(metric(app, "Accuracy (pixels)").value) < 0.7
    app.toggle(key="baseline_on").set_value(False).run()


def test_repeat_over_three_seeds_shows_mean_and_std(app):
    app.toggle(key="cluster_seeds").set_value(True).run()
    assert not app.exception
    table = next(df.value for df in app.dataframe if "score" in df.value.columns)
    assert list(table["score"]) == ["accuracy", "NMI", "ARI"]
    mean, std = (float(v) for v in table["train"][0].split(" ± "))
    assert 0.6 < mean < 0.8 and 0 <= std < 0.05
