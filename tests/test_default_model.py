"""What the app opens on when nobody chose: the shipped split model ($DAE_DEFAULT_MODEL unset).
The other page tests open on the small reference model (tests/conftest.py sets the variable)."""
import pytest

from dae_core import checkpoint
from dae_core.paths import CHECKPOINT_DIR

DEFAULT = "split-d22"


@pytest.fixture(autouse=True)
def product_default(monkeypatch):
    monkeypatch.delenv("DAE_DEFAULT_MODEL")
    monkeypatch.setenv("DAE_EXPLORER", "off")  # AppTest runs no JavaScript


def test_the_default_model_is_a_shipped_split_model():
    from dae_core.settings import settings

    assert settings().default_model == DEFAULT
    ck = checkpoint.load(CHECKPOINT_DIR / f"{DEFAULT}.pt")
    assert ck.parts["class"] == list(range(10)) and len(ck.parts["style"]) >= 1


def test_home_opens_on_it_and_says_what_it_is(app_test):
    at = app_test("0_Home.py")
    assert not at.exception and at.sidebar.selectbox(key="model").value == DEFAULT
    (about,) = [box.value for box in at.info]
    assert DEFAULT in about and "which digit" in about and "style dials" in about


@pytest.mark.slow  # encodes 60k digits when the result cache is cold
@pytest.mark.parametrize("page", ["2_Denoise.py", "3_Generate.py", "4_Cluster.py"])
def test_every_page_opens_on_it(app_test, page):
    at = app_test(page, timeout=180)
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="model").value == DEFAULT


@pytest.mark.slow
def test_cluster_opens_on_its_digit_part(app_test):
    at = app_test("4_Cluster.py", timeout=180)
    accuracy = next(m for m in at.metric if m.label.startswith("Accuracy"))
    assert float(accuracy.value.rstrip("%")) / 100 > 0.95  # the reference model's k-means: ~0.72
    assert any("class part" in c.value for c in at.caption)


@pytest.mark.slow
def test_generate_opens_its_manifold_on_two_style_numbers(app_test):
    at = app_test("3_Generate.py", timeout=180)
    style = checkpoint.load(CHECKPOINT_DIR / f"{DEFAULT}.pt").parts["style"]
    assert (at.selectbox(key="gen_dim_x").value, at.selectbox(key="gen_dim_y").value) == tuple(style[:2])


@pytest.mark.slow
def test_generates_digit_dial_names_the_digit_it_draws(app_test):
    at = app_test("3_Generate.py", timeout=180, query_params={"sampler": "cluster:K", "component": "3"})
    (note,) = [c.value for c in at.caption if c.value.startswith("The digit dial")]
    assert "class 3" in note and "matched to the digit" in note and not at.warning
