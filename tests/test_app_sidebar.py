"""The shared sidebar in AppTest: Download gives the selected checkpoint's file, an uploaded
checkpoint is checked, kept for its session only and selected, a bad one is one error line."""
import gc
import hashlib
import json
import re
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from corpus_guard import outside  # noqa: E402  (pytest puts tests/ on the path)

PAGE = "0_Home.py"  # the lightest page that draws the sidebar
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints"
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
REFUSED = sorted(n for n, case in MANIFEST.items() if n.startswith("checkpoints/")
                 and not case["accept"])
D8 = CORPUS / "checkpoints" / "latent_d8.pt"
MARKER = Path("/tmp/dae-lab-corpus-marker")  # where the corpus payloads write without the env


@pytest.fixture
def downloads(monkeypatch):
    """file_id -> (the bytes a click would send, file name) of every download button drawn."""
    seen, add = {}, MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        file_id = add(self, data_callable, mimetype, coordinates, file_name, **kwargs)
        seen[file_id] = (data_callable, file_name)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)

    def download(at):
        (button,) = at.get("download_button")
        data, name = seen[button.proto.deferred_file_id]
        return data(), name
    return download


def upload(at, path: Path, name: str | None = None):
    """Put a file (under `name`, default its own) into the sidebar's uploader and rerun."""
    at.file_uploader(key="checkpoint_upload").set_value(
        (name or path.name, path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def card(at) -> str:
    return at.sidebar.caption[0].value


@pytest.mark.slow  # page runs take seconds
def test_download_sends_the_selected_checkpoint_file(app_test, downloads):
    at = app_test(PAGE)
    assert downloads(at) == ((SHIPPED / "reference-d4.pt").read_bytes(), "reference-d4.pt")
    at.sidebar.selectbox[0].set_value("denoise-d10").run()
    assert downloads(at) == ((SHIPPED / "denoise-d10.pt").read_bytes(), "denoise-d10.pt")


@pytest.mark.slow  # page runs take seconds
def test_an_upload_is_listed_selected_carded_and_downloadable(app_test, downloads):
    at = upload(app_test(PAGE), D8, "my model (1).pt")
    picker = at.sidebar.selectbox[0]
    assert picker.options[-1] == picker.value == "my_model_1 (uploaded)"
    assert not at.sidebar.error and card(at).startswith("d=8 ·")
    assert downloads(at) == (D8.read_bytes(), "my_model_1.pt")
    kept = Path(at.session_state["session_uploads"]["my_model_1"])
    assert kept.read_bytes() == D8.read_bytes() and ROOT not in kept.parents
    picker.set_value("reference-d4").run()  # away and back: it stays selectable
    assert card(at).startswith("d=4 ·")
    at.sidebar.selectbox[0].set_value("my_model_1 (uploaded)").run()
    assert not at.exception and card(at).startswith("d=8 ·")


@pytest.mark.slow  # page runs take seconds
def test_the_same_file_twice_is_one_entry_and_a_namesake_gets_a_number(app_test, tmp_path):
    at = upload(upload(app_test(PAGE), D8), D8)
    assert [o for o in at.sidebar.selectbox[0].options if "(uploaded)" in o] == [
        "latent_d8 (uploaded)"]
    other = tmp_path / "latent_d8.pt"
    other.write_bytes((SHIPPED / "reference-d4.pt").read_bytes())
    upload(at, other)
    assert [o for o in at.sidebar.selectbox[0].options if "(uploaded)" in o] == [
        "latent_d8 (uploaded)", "latent_d8-2 (uploaded)"]
    assert at.sidebar.selectbox[0].value == "latent_d8-2 (uploaded)" and card(at).startswith("d=4")
    at.sidebar.selectbox[0].set_value("latent_d8 (uploaded)").run()
    assert card(at).startswith("d=8 ·")  # the first one was not written over


@pytest.mark.slow  # page runs take seconds
def test_an_upload_named_like_a_shipped_model_leaves_the_shipped_one_alone(app_test):
    shipped = hashlib.md5((SHIPPED / "reference-d4.pt").read_bytes()).hexdigest()
    at = upload(app_test(PAGE), D8, "reference-d4.pt")
    names = at.sidebar.selectbox[0].options
    assert names[0] == "reference-d4" and "reference-d4 (uploaded)" in names
    assert card(at).startswith("d=8 ·")
    at.sidebar.selectbox[0].set_value("reference-d4").run()
    assert card(at).startswith("d=4 ·")
    assert hashlib.md5((SHIPPED / "reference-d4.pt").read_bytes()).hexdigest() == shipped


@pytest.mark.slow  # page runs take seconds
def test_the_uploads_folder_goes_with_its_session(app_test):
    at = upload(app_test(PAGE), D8)
    folder = Path(at.session_state["session_uploads"]["latent_d8"]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["latent_d8.pt"]
    del at
    gc.collect()  # the session state is dropped: its folder is removed with it
    assert not folder.exists()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """The payload marker in a temporary folder; afterwards no payload ran and nothing outside
    the test's folders was written."""
    marker = tmp_path_factory.mktemp("sidebar") / "payload-ran"
    before = outside()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAE_CORPUS_MARKER", str(marker))
        yield
    assert not marker.exists() and not MARKER.exists(), "a checkpoint's payload ran"
    assert outside() == before


@pytest.fixture(scope="module")
def home(guarded, app_test):
    """One session for every refused file: it holds an accepted upload that must survive them."""
    at = upload(app_test(PAGE), D8)
    assert at.sidebar.selectbox[0].value == "latent_d8 (uploaded)"
    return at


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("name", REFUSED)
def test_a_bad_or_hostile_upload_is_one_error_line(home, name):
    at = upload(home, CORPUS / name)
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.sidebar.error]  # escapes resolved
    assert len(errors) == 1 and len(at.error) == 1, errors  # in the sidebar, nowhere else
    assert errors[0].startswith(Path(name).name) and MANIFEST[name]["words"] in errors[0]
    assert "Traceback" not in errors[0] and "\n" not in errors[0]
    assert at.session_state["session_uploads"].keys() == {"latent_d8"}  # nothing listed or lost
    assert at.sidebar.selectbox[0].value == "latent_d8 (uploaded)" and card(at).startswith("d=8")


@pytest.mark.slow  # page runs take seconds
def test_a_good_upload_after_a_refused_one_clears_the_error(home, tmp_path):
    upload(home, CORPUS / "checkpoints" / "truncated.pt")
    assert len(home.sidebar.error) == 1
    good = tmp_path / "good.pt"
    good.write_bytes((SHIPPED / "denoise-d10.pt").read_bytes())
    upload(home, good)
    assert not home.sidebar.error and home.sidebar.selectbox[0].value == "good (uploaded)"
    assert card(home).startswith("d=10 ·")
