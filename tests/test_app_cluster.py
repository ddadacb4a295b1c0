"""The Cluster page renders against the shipped checkpoint, scores it, and reacts to its widgets;
GMM and UMAP work are analysis jobs (ui.background) with progress and Cancel, and cached results
open without them, or Ray. The jobs run here on threads (the inline_jobs fixture), so that a test
can slow a step down or hold the queue."""
import json
import re
import threading

import numpy as np
import pytest
from inline_jobs import InlineJobs  # pytest puts tests/ on the path
from support import svg_pictures

import dae_core.analysis.cluster as cluster_mod

PAGE = "4_Cluster.py"
WARNING = "can take several minutes"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """An empty disk cache for this module's pages (the shipped entries are still found)."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAE_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def app(app_test, cache_dir):
    """One AppTest shared by the tests below: the codes and the clustering are computed once."""
    return app_test(PAGE, timeout=90)


def metric(at, label: str):
    return next(m for m in at.metric if m.label == label)


def widget(widgets, label: str):
    """The page's widget of that label (its key is the URL's name for it)."""
    return next(w for w in widgets if w.label == label)


def share(text: str) -> float:
    """'71.7%' -> 0.717: an accuracy as the page shows it (a percent with one decimal)."""
    assert text.endswith("%") and len(text.split(".")[-1]) == 2, text
    return float(text[:-1]) / 100


def test_page_renders_the_scores_of_the_shipped_model(app):
    assert app.sidebar.selectbox[0].value == "reference-d4"
    accuracy = metric(app, "Accuracy (Hungarian)")
    assert 0.6 < share(accuracy.value) < 0.8  # k-means on reference-d4 scores ~71.7%
    assert 0.6 < share(accuracy.proto.delta) < 0.8  # the test-set score beside it
    assert 0 < float(metric(app, "NMI").value) <= 1 and -1 <= float(metric(app, "ARI").value) <= 1


@pytest.mark.slow  # page runs take seconds
def test_page_shows_the_heatmaps_and_the_map_as_pictures(app):
    """No Plotly chart on the page as it opens: the confusion matrices are clickable SVG pictures
    and the map of 48k codes a density picture; the scatter of every point is one toggle away."""
    assert not app.get("plotly_chart")
    for key in ("heat_matched", "heat_raw"):
        assert len(cells(heatmap(app, key))) == 100  # 10 digits x 10 clusters
    assert len(app.main.get("image")) == 2  # the map, and the images of the default (digit, cluster) cell
    app.toggle(key="map_all").set_value(True).run()
    scatter = json.loads(chart(app, "map").proto.spec)["data"]
    assert {trace["type"] for trace in scatter} == {"scattergl"} and len(scatter) == 10
    assert len(app.main.get("image")) == 1
    app.toggle(key="map_all").set_value(False).run()
    assert len(app.main.get("image")) == 2


@pytest.mark.slow  # page runs take seconds
def test_changing_k_to_5_reclusters(app):
    widget(app.number_input, "Clusters k").set_value(5).run()
    assert not app.exception
    assert 0.3 < share(metric(app, "Accuracy (Hungarian)").value) < 0.6  # 5 clusters for 10 digits
    widget(app.number_input, "Clusters k").set_value(10).run()


def test_picking_a_cell_shows_its_images(app):
    app.selectbox(key="cell_digit").set_value(7).run()
    assert not app.exception
    assert any("images of digit 7" in c.value for c in app.caption)
    assert len(app.main.get("image")) == 2  # the map and the cell's images


def chart(at, key: str):
    return next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}"))


def heatmap(at, key: str) -> str:
    """The SVG of the clickable confusion matrix `key` (ui.heatmap)."""
    return next(json.loads(c.proto.json)["svg"] for c in at.get("bidi_component") if c.proto.id.endswith(key))


def cells(svg: str) -> list:
    """The (true digit, cluster) cells of a confusion picture, and whether each is the one picked."""
    return re.findall(r'<g class="cell" data-row="(\d+)" data-col="(\d+)"( data-picked="true")?>', svg)


def outlined(at, key: str) -> tuple[str, str]:
    """(true digit, cluster) of the cell outlined on heatmap `key`."""
    (cell,) = [c[:2] for c in cells(heatmap(at, key)) if c[2]]
    return cell


def test_a_cell_picked_in_the_dropdowns_is_outlined_on_both_heatmaps(app):
    """The dropdowns pick a cell as a click on a heatmap does (a click is driven in a real browser,
    in tests/e2e/test_cluster_click.py); a new digit opens on its fullest cluster."""
    app.selectbox(key="cell_digit").set_value(7).run()
    app.selectbox(key="cell_cluster").set_value(4).run()
    assert not app.exception
    assert any("images of digit 7 fell in cluster 4" in c.value for c in app.caption)
    assert outlined(app, "heat_raw") == ("7", "4")
    assert outlined(app, "heat_matched") == ("7", "4")
    app.selectbox(key="cell_digit").set_value(2).run()
    cluster = app.selectbox(key="cell_cluster")
    assert not app.exception and cluster.options[0].startswith(f"{cluster.value}, ")  # the fullest
    assert outlined(app, "heat_raw") == ("2", str(cluster.value))
    assert any(f"images of digit 2 fell in cluster {cluster.value};" in c.value for c in app.caption)


def mapping_rows(at) -> list[tuple[int, int, int, int, float]]:
    """(cluster, images, matched digit, most common digit, purity %) of the page's Markdown table."""
    (table,) = [m.value for m in at.markdown if m.value.startswith("| Cluster | Images |")]
    rows = [[c.strip().replace("\\", "") for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return [(int(c), int(n.replace(",", "")), int(d), int(m), float(p.rstrip("%"))) for c, n, d, m, p in rows]


def test_purity_is_the_share_of_the_most_common_digit(app):
    """k-means (seed 0) on reference-d4 makes two clusters of sevens; the matching gives 7 to one
    and another digit to the other, which is still 96% sevens (1,696 of 1,768)."""
    table = mapping_rows(app)
    assert len(table) == 10 and sum(size for _, size, _, _, _ in table) == 48_000
    sevens = [row for row in table if row[3] == 7 and row[2] != 7]
    assert len(sevens) == 1 and 90 < sevens[0][4] < 100
    assert all(purity >= 100 / 10 for *_, purity in table)  # the most common of 10 digits: at least a tenth
    assert any(c.value.startswith("**Purity**: the share") for c in app.caption)


def test_times_and_method_read_in_words(app):
    (timing,) = [c.value for c in app.caption if "training codes (d=" in c.value]
    assert timing.startswith("k-means on 48,000 training codes") and "Seconds" not in timing
    steps = timing.split("since): ")[1].split(" · ")
    assert steps and all(re.fullmatch(r"[a-zA-Z +-]+ \d+(\.\d)? (s|min|h)", s) for s in steps), steps


@pytest.mark.slow  # page runs take seconds
def test_pixel_baseline_on_demand(app):
    assert not any("pixels" in m.label for m in app.metric)
    app.toggle(key="baseline_on").set_value(True).run()
    assert not app.exception
    assert 0.3 < share(metric(app, "Accuracy (pixels)").value) < 0.7
    app.toggle(key="baseline_on").set_value(False).run()


@pytest.mark.slow  # page runs take seconds
def test_repeat_over_three_seeds_shows_mean_and_std(app, monkeypatch):
    hold = threading.Event()  # the jobs wait in the queue until it is set
    queue = InlineJobs(hold).install(monkeypatch)
    app.toggle(key="cluster_seeds").set_value(True).run()
    assert not app.exception
    assert progress_line(app, "3 seeds") == "3 seeds: queued, place 1 of 1 (0 of 2 done)"  # seeds 1 and 2
    assert len(queue.submitted) == 2
    hold.set()
    assert queue.wait(120)
    app.run()
    assert not app.get("progress") and not progress_line(app, "3 seeds")
    table = next(df.value for df in app.dataframe if "score" in df.value.columns)
    assert list(table["score"]) == ["accuracy", "NMI", "ARI"]
    mean, std = (share(v) for v in table["train"][0].split(" ± "))
    assert 0.6 < mean < 0.8 and 0 <= std < 0.05



def progress_line(at, label: str) -> str | None:
    """The line under which the page follows its jobs of `label` (ui.background), if it shows one."""
    lines = [c.value for c in at.caption if c.value.startswith(f"{label}: ")]
    assert len(lines) <= 1, lines
    return lines[0] if lines else None


def cached_keys(cache_dir) -> list[dict]:
    """The keys of the clustering entries on disk."""
    out = []
    for path in cache_dir.glob("clustering-*.npz"):
        with np.load(path, allow_pickle=False) as f:
            out.append(json.loads(str(f["key"])) | {"path": path})
    return out


class _SlowUmap:
    """Stands in for UMAP: the codes as they are, after `release` is set (a fit that takes long)."""

    release = threading.Event()

    def __init__(self, z):
        self.release.wait(60)
        self.embedding_ = np.asarray(z)

    def transform(self, z):
        return np.asarray(z)


@pytest.fixture
def slow_umap(monkeypatch):
    _SlowUmap.release.clear()
    monkeypatch.setattr(cluster_mod, "_fit_umap", lambda z, *args: _SlowUmap(z))
    yield _SlowUmap.release
    _SlowUmap.release.set()


@pytest.mark.slow  # page runs take seconds
def test_an_uncached_umap_clustering_warns_shows_progress_and_can_be_cancelled(app_test, slow_umap,
                                                                                inline_jobs):
    at = app_test(PAGE, query_params={"method": "umap-kmeans", "cluster_seed": "5"})
    assert any(WARNING in w.value for w in at.warning)
    assert progress_line(at, "UMAP + k-means, k=10").startswith("UMAP + k-means, k=10: running for")
    assert not at.metric  # nothing to show yet
    assert at.sidebar.selectbox[0].value == "reference-d4"  # the sidebar too
    at.button(key="cluster_cancel").click().run()
    assert not at.exception and at.info[0].value == "UMAP + k-means, k=10: cancelled."
    assert at.button(key="cluster_again").label == "Start again"
    assert inline_jobs.cancelled == inline_jobs.submitted and len(inline_jobs.submitted) == 1  # Ray stops it
    slow_umap.set()
    assert inline_jobs.wait(30)
    widget(at.selectbox, "Method").set_value("kmeans").run()  # the page is usable again
    assert not at.exception and share(metric(at, "Accuracy (Hungarian)").value) > 0.6


@pytest.mark.slow  # page runs take seconds
def test_a_finished_umap_clustering_is_kept_and_opens_without_the_warning(app_test, slow_umap, inline_jobs):
    slow_umap.set()
    at = app_test(PAGE, query_params={"method": "umap-kmeans", "cluster_seed": "6"})
    assert any(WARNING in w.value for w in at.warning)
    assert inline_jobs.wait(60)
    at.run()
    assert not any(WARNING in w.value for w in at.warning)
    assert 0.5 < share(metric(at, "Accuracy (Hungarian)").value) < 0.9
    again = app_test(PAGE, query_params={"method": "umap-kmeans", "cluster_seed": "6"})  # another session
    assert not any(WARNING in w.value for w in again.warning) and again.metric


@pytest.mark.slow  # page runs take seconds
def test_the_shipped_umap_clustering_opens_without_computing(app_test, monkeypatch):
    monkeypatch.setattr(cluster_mod, "_fit_umap", None)  # calling it would raise
    at = app_test(PAGE, query_params={"model": "cluster-d10-refined", "method": "umap-gmm"})
    assert not any(WARNING in w.value for w in at.warning) and not at.get("progress")
    assert share(metric(at, "Accuracy (Hungarian)").value) > 0.9
    assert [m.label for m in at.metric].count("Accuracy (Hungarian)") == 1
    at.radio(key="map_projection").set_value("UMAP (all points)").run()
    assert not at.exception and not at.get("progress")
    (svg,) = svg_pictures(at.main)
    assert ">UMAP (all points) of the training codes</text>" in svg and "data:image/png;base64," in svg


@pytest.mark.slow  # encodes and clusters the training set
def test_a_corrupt_cache_entry_is_recomputed_and_replaced(app_test, cache_dir):
    import streamlit as st

    from dae_core import store

    at = app_test(PAGE, query_params={"cluster_seed": "3"})
    accuracy = metric(at, "Accuracy (Hungarian)").value
    (entry,) = [k["path"] for k in cached_keys(cache_dir) if k["method"] == "kmeans" and k["seed"] == 3]
    entry.write_bytes(b"damaged")
    st.cache_resource.clear()  # as after a restart: nothing in memory
    store.forget()
    again = app_test(PAGE, query_params={"cluster_seed": "3"})
    assert metric(again, "Accuracy (Hungarian)").value == accuracy
    with np.load(entry, allow_pickle=False) as f:  # rewritten as a valid entry
        assert f["labels"].shape == (48_000,)


@pytest.mark.slow  # page runs take seconds
def test_a_checkpoint_that_fails_to_load_is_named_and_stops_the_page(app_test, monkeypatch, tmp_path):
    """The only listed checkpoint is broken: the sidebar says why, the page asks for a model and
    computes nothing (no traceback)."""
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr("ui.models.SHIPPED_DIR", tmp_path)
    at = app_test(PAGE)
    assert at.sidebar.error and "broken.pt" in at.sidebar.error[0].value
    assert any("Select or train a model" in i.value for i in at.info) and not at.metric


@pytest.mark.slow  # page runs take seconds
def test_two_sessions_asking_one_clustering_share_one_job(app_test, slow_umap, inline_jobs):
    first = app_test(PAGE, query_params={"method": "umap-kmeans", "cluster_seed": "8"})
    second = app_test(PAGE, query_params={"method": "umap-kmeans", "cluster_seed": "8"})
    assert progress_line(second, "UMAP + k-means, k=10") and len(inline_jobs.submitted) == 1  # one fit for both
    first.button(key="cluster_cancel").click().run()  # the other session still waits on it
    assert not inline_jobs.cancelled
    slow_umap.set()
    assert inline_jobs.wait(60)
    for at in (first, second):
        at.run()
        assert not at.exception and 0.5 < share(metric(at, "Accuracy (Hungarian)").value) < 0.9


@pytest.mark.slow  # page runs take seconds
def test_a_page_reading_cached_results_never_asks_ray(app_test, monkeypatch):
    """With the real job layer: what is cached opens without a word to Ray; what is not (a GMM
    clustering) is asked of Ray, and a Ray that cannot start is one line while the page asks again."""
    from dae_core.serve import ray_jobs

    calls = []

    def no_ray(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise ray_jobs.RayUnavailable("a local Ray is starting (the last start failed: refused here)")
        return refuse

    for name in ("ensure_head", "submit", "info", "jobs", "stop"):
        monkeypatch.setattr(ray_jobs, name, no_ray(name))
    at = app_test(PAGE, query_params={"model": "cluster-d10-refined", "method": "umap-gmm"})
    at.radio(key="map_projection").set_value("UMAP (all points)").run()
    assert not at.exception and not at.error and share(metric(at, "Accuracy (Hungarian)").value) > 0.9
    assert not calls
    widget(at.selectbox, "Method").set_value("gmm").run()
    assert set(calls) == {"ensure_head"} and not at.exception and not at.error
    (warning,) = [w.value for w in at.warning if "is waiting" in w.value]
    assert warning == ("Gaussian mixture, k=10 is waiting: a local Ray is starting "
                       "(the last start failed: refused here)")
    assert at.button(key="cluster_cancel").label == "Cancel"


@pytest.mark.slow  # page runs take seconds
def test_a_k_means_fit_in_the_page_takes_one_of_the_servers_fit_slots(app_test, monkeypatch):
    """Fits computed in the server take turns (DAE_PAGE_FITS), so a class asking many at once
    leaves cores for everyone's pages."""
    import contextlib

    from ui import cache

    held = []

    class Recording:
        @contextlib.contextmanager
        def hold(self, what):
            held.append(what)
            yield

    monkeypatch.setattr(cache, "_fit_slots", lambda: Recording())
    at = app_test(PAGE, timeout=90, query_params={"k": "7", "cluster_seed": "913"})
    assert "kmeans, k=7" in held, held
    assert 0.3 < share(metric(at, "Accuracy (Hungarian)").value) < 1


@pytest.mark.slow  # page runs take seconds
def test_a_split_model_s_gmm_clustering_is_asked_as_a_job_and_shown(app_test, inline_jobs):
    """A split model clusters its digit part: the job's settings hold that part's numbers (a list),
    and the page that waits on the job, then shows its result, must handle them."""
    at = app_test(PAGE, query_params={"model": "split-d22", "method": "gmm", "k": "9", "cluster_seed": "4"})
    assert progress_line(at, "Gaussian mixture, k=9") is not None and len(inline_jobs.submitted) == 1
    assert inline_jobs.wait(60)
    at.run()
    assert not at.exception and share(metric(at, "Accuracy (Hungarian)").value) > 0.8
