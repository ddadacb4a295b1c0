"""The URL is the view: each setting that defines a page's view is a widget bound to its query
parameter, so a link opens it and the browser rewrites the URL on a change; a link's bad value is
dropped with a one-line notice; every setting is kept across a trip through the other pages."""
import shutil
import threading
from pathlib import Path

import pytest
from inline_jobs import InlineJobs  # pytest puts tests/ on the path

from dae_core.analysis.latent import DEFAULT_SAMPLER, SAMPLERS
from ui.words import SAMPLERS as SAMPLER_WORDS

MODEL = "cluster-d10-refined"  # a shipped model that is not the picker's first
ROOT = Path(__file__).resolve().parents[1]


def _open(app_test, page: str, **params):
    """Run `page` once as if opened by a link carrying `params`."""
    return app_test(page, timeout=120, query_params=params)


def _notices(at) -> list[str]:
    return [w.value for w in at.warning]


@pytest.fixture
def queued_jobs(monkeypatch):
    """Analysis jobs wait in a queue that does not move, and leave it unstarted after the test: a
    page that asks one (a GMM clustering) shows its place, and nothing is computed."""
    hold = threading.Event()
    queue = InlineJobs(hold).install(monkeypatch)
    yield queue
    for job in queue.submitted:
        queue.cancel(job, "the test is over")
    hold.set()


def _bound(widget) -> str:
    """The URL parameter a widget is bound to: the browser writes its value there on a change.
    (A choice shown in words is kept in the URL by the page instead: see at.query_params.)"""
    return widget.proto.query_param_key


@pytest.mark.slow  # page runs take seconds
def test_home_opens_the_linked_model_and_keeps_it_in_the_url(app_test):
    at = _open(app_test, "0_Home.py", model=MODEL)
    picker = at.sidebar.selectbox(key="model")
    assert picker.value == MODEL and _bound(picker) == "model"
    assert at.query_params["model"] == MODEL and not _notices(at)
    picker.set_value("denoise-d10").run()
    assert at.sidebar.selectbox(key="model").value == "denoise-d10"  # the widget wins now


def test_an_unknown_model_falls_back_to_the_default_with_a_notice(app_test):
    at = _open(app_test, "0_Home.py", model="no-such-model")
    assert at.sidebar.selectbox(key="model").value == "reference-d4"
    assert [n for n in _notices(at) if "`model=no-such-model`" in n]
    assert "model" not in at.query_params  # dropped; the default is not written


def test_cluster_round_trip(app_test, queued_jobs):
    at = _open(app_test, "4_Cluster.py", model=MODEL, method="gmm", k="8", cluster_seed="3")
    assert at.sidebar.selectbox(key="model").value == MODEL
    widgets = {"method": at.selectbox(key="method"), "k": at.number_input(key="k"),
               "cluster_seed": at.number_input(key="cluster_seed")}
    assert {name: w.value for name, w in widgets.items()} == {"method": "gmm", "k": 8, "cluster_seed": 3}
    assert all(_bound(w) == name for name, w in widgets.items() if name != "method")
    assert widgets["method"].options[widgets["method"].index] == "Gaussian mixture"  # read in words
    assert not _notices(at)
    assert {n: at.query_params[n] for n in ("model", "method", "k", "cluster_seed")} == {
        "model": MODEL, "method": "gmm", "k": "8", "cluster_seed": "3"}
    at.number_input(key="k").set_value(7).run()
    assert not at.exception
    assert at.number_input(key="k").value == 7  # the widget, not the link, wins now


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("name, value", [("k", "abc"), ("k", "99"), ("method", "dbscan")])
def test_cluster_bad_value_is_the_default_with_a_notice(app_test, name, value):
    at = _open(app_test, "4_Cluster.py", **{name: value})
    assert at.number_input(key="k").value == 10
    assert at.selectbox(key="method").value == "kmeans"
    notices = _notices(at)
    assert len([n for n in notices if f"`{name}={value}`" in n]) == 1, notices
    assert name not in at.query_params  # dropped from the URL


@pytest.mark.slow  # page runs take seconds
def test_denoise_round_trip_and_a_bad_strength(app_test):
    at = _open(app_test, "2_Denoise.py", noise="mask", strength="0.45", noise_seed="7")
    assert at.selectbox(key="noise").value == "mask"
    assert at.slider(key="strength").value == pytest.approx(0.45)
    assert at.number_input(key="noise_seed").value == 7
    assert [_bound(at.slider(key="strength")), _bound(at.number_input(key="noise_seed"))] == [
        "strength", "noise_seed"]
    assert at.query_params["noise"] == "mask"
    at.slider(key="strength").set_value(0.6).run()
    assert not at.exception and at.slider(key="strength").value == pytest.approx(0.6)
    at.selectbox(key="noise").set_value("salt_pepper").run()  # a new kind: its own default strength
    assert at.slider(key="strength").value == pytest.approx(0.3)
    assert at.query_params["noise"] == "salt_pepper"  # the kind's name, not its words
    at.selectbox(key="noise").set_value("gaussian").run()
    assert "noise" not in at.query_params  # the model's own kind: the default leaves the URL

    at = _open(app_test, "2_Denoise.py", noise="mask", strength="99")
    assert at.slider(key="strength").value == pytest.approx(0.3)  # mask's default
    assert any("`strength=99`" in n for n in _notices(at))
    assert "strength" not in at.query_params and at.query_params["noise"] == "mask"


@pytest.mark.slow  # page runs take seconds
def test_generate_round_trip_and_a_bad_sampler(app_test):
    at = _open(app_test, "3_Generate.py", sampler="cluster:K", component="3", sample_seed="42")
    assert at.selectbox(key="sampler").value == "cluster:K"
    assert at.number_input(key="component").value == 3
    assert at.number_input(key="sample_seed").value == 42
    assert _bound(at.number_input(key="component")) == "component"
    assert at.query_params["sampler"] == "cluster:K"
    assert at.main.image[0].captions == ["9 codes drawn from cluster 3's digits, seed 42"]
    at.button(key="gen_new").click().run()  # the seed changed by the page is written to the URL
    assert not at.exception
    assert at.query_params["sample_seed"] == "43" and at.query_params["sampler"] == "cluster:K"

    at = _open(app_test, "3_Generate.py", sampler="magic", sample_seed="-1")
    assert at.selectbox(key="sampler").value == DEFAULT_SAMPLER
    assert at.number_input(key="sample_seed").value == 0
    notices = _notices(at)
    assert any("`sampler=magic`" in n for n in notices) and any("`sample_seed=-1`" in n for n in notices)
    assert at.selectbox(key="sampler").options == [SAMPLER_WORDS[s] for s in SAMPLERS]  # in words
    at.selectbox(key="sampler").set_value("uniform01").run()
    assert at.query_params["sampler"] == "uniform01"  # the URL keeps the sampler's name


@pytest.mark.slow  # page runs take seconds
def test_settings_survive_a_trip_to_another_page_and_back():
    """Bound settings (model, noise, strength) and kept ones (test-digit mode, projection)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app_menu.py"), default_timeout=120).run()
    at.switch_page("app_pages/2_Denoise.py").run()
    at.sidebar.selectbox(key="model").set_value("denoise-d10").run()
    at.selectbox(key="noise").set_value("mask").run()
    at.slider(key="strength").set_value(0.6).run()
    at.radio(key="dn_how").set_value("by class").run()
    at.switch_page("app_pages/0_Home.py").run()
    assert at.sidebar.selectbox(key="model").value == "denoise-d10"
    at.switch_page("app_pages/2_Denoise.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="model").value == "denoise-d10"
    assert at.selectbox(key="noise").value == "mask"
    assert at.slider(key="strength").value == pytest.approx(0.6)
    assert at.radio(key="dn_how").value == "by class"
    assert at.query_params["noise"] == "mask"  # back in the URL on the way back


@pytest.mark.slow  # page runs take seconds
def test_a_saved_run_is_in_the_picker_of_a_fresh_session(app_test, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    shutil.copy(ROOT / "checkpoints" / "denoise-d10.pt", runs / "my-run.pt")
    at = _open(app_test, "0_Home.py", model="my-run (saved run)")  # a new session, by a link
    picker = at.sidebar.selectbox(key="model")
    assert picker.options[-1] == picker.value == "my-run (saved run)"
    assert picker.options[:3] == ["reference-d4", "cluster-d10-refined", "denoise-d10"]
    assert at.sidebar.caption[0].value.startswith("d=10 ·")  # its card
    (runs / "my-run.pt").unlink()  # gone from disk: gone from the list, the default shows
    at.run()
    assert "my-run (saved run)" not in at.sidebar.selectbox(key="model").options
    assert at.sidebar.selectbox(key="model").value == "reference-d4"
