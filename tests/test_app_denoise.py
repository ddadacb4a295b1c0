"""The Denoise page in streamlit's AppTest, on the shipped model: digits, noise, sweep, uploads."""
import sys

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dae_core import TrainConfig
from dae_core import checkpoint as ckpt_io
from dae_core.data import load_digits
from dae_core.images import to_png
from dae_core.train import new_state
from support import svg_pictures  # (pytest puts tests/ on the path)

PAGE = "2_Denoise.py"  # the page the `at` fixture opens


def scores_table(at: AppTest) -> list[list[str]]:
    """The page's scores table (Markdown): its header, then one list of cells per digit."""
    (table,) = [m.value for m in at.main.markdown if m.value.startswith("| test index |")]
    lines = [[c.strip().replace("\\", "") for c in line.strip("|").split("|")] for line in table.splitlines()]
    return [lines[0], *lines[2:]]


def rows(at: AppTest) -> list[list[str]]:
    """The captions of every image row on the page, top to bottom."""
    return [img.captions for img in at.main.image]


def test_page_shows_digits_table_and_sweep_chart(at):
    original, corrupted, reconstructed = rows(at)[:3]
    assert len(original) == len(corrupted) == len(reconstructed) == 8
    assert all(c.endswith(" dB") for c in corrupted + reconstructed)
    header, *body = scores_table(at)
    assert header[:3] == ["test index", "label", "MSE corrupted"] and len(body) == 8
    assert not at.main.dataframe and not at.main.table  # Markdown: no table code in the browser
    (sweep,) = [svg for svg in svg_pictures(at.main) if "MSE against Gaussian strength" in svg]
    assert sweep.count("<polyline") == 2 and not at.get("html")  # a picture, not HTML
    assert not at.error


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("noise", ["gaussian", "salt_pepper", "mask"])
def test_each_noise_kind_renders_and_changes_the_corruption(at, noise):
    before = at.main.image[1].value
    at.selectbox(key="noise").set_value(noise).run()
    assert not at.exception and not at.error
    assert (at.main.image[1].value != before) == (noise != "gaussian")  # the model's own noise first


@pytest.mark.slow  # page runs take seconds
def test_noise_kinds_read_as_words_and_links_keep_their_names(app_test):
    at = app_test(PAGE, query_params={"noise": "salt_pepper"})  # a link names the kind by its key
    box = at.selectbox(key="noise")
    assert box.options == ["Gaussian", "salt and pepper", "mask (pixels set to 0)"]
    assert box.value == "salt_pepper" and not at.warning
    assert any("Corrupted (salt and pepper 0.3)" in m.value for m in at.main.markdown)
    assert any("MSE against salt and pepper strength" in svg for svg in svg_pictures(at.main))
    box.set_value("mask").run()
    assert at.query_params["noise"] == "mask"


@pytest.mark.slow  # page runs take seconds
def test_a_new_noise_kind_resets_the_strength_without_a_streamlit_warning(at, widget_warnings):
    """The strength is set through Session State when the kind changes; the slider then gets no
    default of its own, which Streamlit would log with a stack trace."""
    at.slider(key="strength").set_value(0.8).run()
    at.selectbox(key="noise").set_value("mask").run()
    at.selectbox(key="noise").set_value("gaussian").run()
    assert not at.exception
    assert at.slider(key="strength").value == pytest.approx(0.3)  # the model's own strength again
    assert widget_warnings == []


@pytest.mark.slow  # page runs take seconds
def test_digits_by_class_and_by_index(at):
    at.radio(key="dn_how").set_value("by class").run()
    at.selectbox(key="dn_digit").set_value(3).run()
    assert all(c.endswith("· 3") for c in rows(at)[0])
    at.radio(key="dn_how").set_value("by index").run()
    at.text_input(key="dn_indices").set_value("7, 0, 42").run()
    assert [c.split(" ·")[0] for c in rows(at)[0]] == ["#7", "#0", "#42"]
    at.text_input(key="dn_indices").set_value("7, banana").run()
    assert not at.exception and "banana" in at.error[0].value


@pytest.mark.slow  # page runs take seconds
def test_uploaded_digit_is_denoised(at):
    digit = load_digits().test_images[0].numpy() / 255.0
    inverted = np.kron(1.0 - digit, np.ones((5, 5)))  # 140x140, dark ink on white paper
    at.file_uploader(key="dn_upload").set_value(("seven.png", to_png(inverted), "image/png")).run()
    assert not at.exception and not at.error
    assert not [w for w in at.warning if "look like" in w.value]  # a digit: no warning
    own = rows(at)[-1]
    assert own[1] == "no noise added" and own[2].endswith(" dB")
    at.checkbox(key="dn_add_noise").check().run()
    assert rows(at)[-1][1].endswith(" dB") and not at.exception


@pytest.mark.slow  # page runs take seconds
def test_an_upload_unlike_a_digit_is_denoised_with_a_warning(at):
    """A 2000x2000 random image still goes through the model (its 28x28 view, the reconstruction),
    under a one-line warning saying why it does not look like a digit."""
    noise = np.random.default_rng(0).random((2000, 2000))
    at.file_uploader(key="dn_upload").set_value(("photo_1.png", to_png(noise), "image/png")).run()
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning if "look like" in w.value]
    assert warning.startswith("photo\\_1.png does not look like a handwritten digit (")
    assert "× its error on test digits" in warning and "\n" not in warning
    assert rows(at)[-1][0] == "28×28, centred"  # shown anyway


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"hello, I am not a picture", "not a readable image"),
    (to_png(np.ones((64, 64)) * 0.5)[:60], "not a readable image"),  # truncated PNG
], ids=["empty", "text", "truncated"])
def test_bad_upload_is_an_error_line_not_a_traceback(at, content, message):
    at.file_uploader(key="dn_upload").set_value(("digit.png", content, "image/png")).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value and "digit.png" in at.error[0].value


@pytest.mark.slow  # page runs take seconds
def test_compare_with_another_model_on_the_same_noisy_digits(app_test, tmp_path):
    other = tmp_path / "untrained.pt"
    ckpt_io.save_state(new_state(TrainConfig(latent_dim=2, device="cpu")), other)
    at = app_test(PAGE, session_state={"session_runs": {"untrained": str(other)}})
    noisy = at.main.image[1].value
    at.multiselect(key="dn_compare").set_value(["untrained (this session)"]).run()
    assert not at.exception
    assert at.main.image[1].value == noisy  # the same corrupted inputs
    assert len(rows(at)[3]) == 8 and rows(at)[3][0].endswith(" dB")
    assert "MSE untrained (this session)" in scores_table(at)[0]


@pytest.mark.slow  # page runs take seconds
def test_page_works_without_the_optional_drawing_canvas(app_test, monkeypatch):
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", None)  # import -> ImportError
    at = app_test(PAGE)
    assert any("streamlit-drawable-canvas" in c.value for c in at.caption)


def test_a_copy_of_a_model_reuses_its_noise_sweep(tmp_path, monkeypatch):
    """The sweep is kept by the model's content: an upload of a model the server has swept (a
    class sharing one file) shows its curve at once instead of waiting for a fit slot."""
    import shutil

    from dae_core.paths import CHECKPOINT_DIR
    from ui import cache

    calls = []
    monkeypatch.setattr(cache, "sweep", lambda *a: calls.append(a) or (np.zeros(8), np.zeros(8)))
    cache._noise_sweep.clear()
    original = CHECKPOINT_DIR / "reference-d4.pt"
    copy = tmp_path / "class-model.pt"
    shutil.copy(original, copy)
    first = cache.noise_sweep(*cache.file_key(original), "gaussian", 3)
    again = cache.noise_sweep(*cache.file_key(copy), "gaussian", 3)
    other = cache.noise_sweep(*cache.file_key(copy), "mask", 3)
    assert len(calls) == 2 and again is first and other is not first
    cache._noise_sweep.clear()
