"""The URL is the view: each page opens on the settings its link names, writes its settings back
into the URL after a change, and turns a bad value into the default with a one-line notice."""
import pytest

MODEL = "cluster-d10-refined"  # a shipped model that is not the picker's first


def _open(app_test, page: str, **params):
    """Run `page` once as if opened by a link carrying `params`."""
    return app_test(page, timeout=120, query_params=params)


def _notices(at) -> list[str]:
    return [w.value for w in at.warning]


def test_home_opens_the_linked_model_and_keeps_it_in_the_url(app_test):
    at = _open(app_test, "0_Home.py", model=MODEL)
    assert at.selectbox(key="checkpoint_select").value == MODEL
    assert at.query_params["model"] == MODEL
    at.selectbox(key="checkpoint_select").set_value("reference-d4").run()
    assert at.query_params["model"] == "reference-d4"


def test_an_unknown_model_falls_back_to_the_default_with_a_notice(app_test):
    at = _open(app_test, "0_Home.py", model="no-such-model")
    assert at.selectbox(key="checkpoint_select").value == "reference-d4"
    assert any("`model=no-such-model`" in n for n in _notices(at))
    assert at.query_params["model"] == "reference-d4"


def test_cluster_round_trip(app_test):
    at = _open(app_test, "4_Cluster.py", model=MODEL, method="gmm", k="8", seed="3")
    assert at.selectbox(key="checkpoint_select").value == MODEL
    assert at.selectbox(key="cluster_method").value == "gmm"
    assert at.number_input(key="cluster_k").value == 8
    assert at.number_input(key="cluster_seed").value == 3
    assert not _notices(at)
    at.number_input(key="cluster_k").set_value(7).run()
    assert not at.exception
    assert at.number_input(key="cluster_k").value == 7  # the widget, not the old URL, wins now
    assert {n: at.query_params[n] for n in ("model", "method", "k", "seed")} == {
        "model": MODEL, "method": "gmm", "k": "7", "seed": "3"}


@pytest.mark.parametrize("name, value", [("k", "abc"), ("k", "99"), ("method", "dbscan")])
def test_cluster_bad_value_is_the_default_with_a_notice(app_test, name, value):
    at = _open(app_test, "4_Cluster.py", **{name: value})
    assert at.number_input(key="cluster_k").value == 10
    assert at.selectbox(key="cluster_method").value == "kmeans"
    notices = _notices(at)
    assert len([n for n in notices if f"`{name}={value}`" in n]) == 1, notices
    assert at.query_params[name] == {"k": "10", "method": "kmeans"}[name]


def test_denoise_round_trip_and_a_bad_strength(app_test):
    at = _open(app_test, "2_Denoise.py", noise="mask", strength="0.45")
    assert at.selectbox(key="dn_noise").value == "mask"
    assert at.slider(key="dn_strength_mask").value == pytest.approx(0.45)
    at.slider(key="dn_strength_mask").set_value(0.6).run()
    assert not at.exception
    assert at.query_params["noise"] == "mask" and at.query_params["strength"] == "0.6"

    at = _open(app_test, "2_Denoise.py", noise="mask", strength="99")
    assert at.slider(key="dn_strength_mask").value == pytest.approx(0.3)  # mask's default
    assert any("`strength=99`" in n for n in _notices(at))
    assert at.query_params["strength"] == "0.3"


def test_generate_round_trip_and_a_bad_sampler(app_test):
    at = _open(app_test, "3_Generate.py", sampler="box", seed="42")
    assert at.selectbox(key="gen_sampler").value == "box"
    assert at.number_input(key="gen_seed").value == 42
    at.button(key="gen_new").click().run()
    assert not at.exception
    assert at.query_params["sampler"] == "box" and at.query_params["seed"] == "43"

    at = _open(app_test, "3_Generate.py", sampler="magic", seed="-1")
    from dae_core.latent import DEFAULT_SAMPLER
    assert at.selectbox(key="gen_sampler").value == DEFAULT_SAMPLER
    assert at.number_input(key="gen_seed").value == 0
    notices = _notices(at)
    assert any("`sampler=magic`" in n for n in notices) and any("`seed=-1`" in n for n in notices)
