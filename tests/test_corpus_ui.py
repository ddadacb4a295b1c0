"""The bad-input corpus through the app (AppTest): Denoise uploads, the sidebar's checkpoint
loader, the Train page's checkpoint names and settings.

A refused input is one st.error line (no exception box), the page keeps working afterwards,
nothing is written outside the runs folder and no checkpoint payload runs.
"""
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from dae_core import TrainConfig
from dae_core.serve.runs import is_run_id
from ui.words import plain
from corpus_guard import outside  # noqa: E402  (pytest puts tests/ on the path)

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "app_pages"
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
SETTINGS = json.loads((CORPUS / "settings.json").read_text())
NAMES = json.loads((CORPUS / "names.json").read_text())
DEFAULT_MARKER = Path("/tmp/dae-lab-corpus-marker")
MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg"}
UPLOADS = sorted(n for n in MANIFEST if n.startswith("uploads/"))
CHECKPOINTS = sorted(n for n in MANIFEST if n.startswith("checkpoints/"))
# (TrainConfig field, widget bounds) of the Train form (ui/train_ui.config_form)
BOUNDS = {"epochs": (1, 10_000), "lr": (0.0, 10.0), "batch_size": (1, 65_536),
          "latent_dim": (1, 256), "noise_strength": (0.0, 5.0), "width": (1, 16),
          "train_subset": (0, 60_000), "val_fraction": (0.0, 0.99)}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Runs saved in a temporary folder; the payload marker pointed at it; afterwards no payload
    ran and nothing outside the runs folder was written (see outside())."""
    base = tmp_path_factory.mktemp("corpus_ui")
    runs, marker = base / "runs", base / "payload-ran"
    runs.mkdir()
    before = outside()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAE_RUNS_DIR", str(runs))
        mp.setenv("DAE_CORPUS_MARKER", str(marker))
        yield runs
    assert not marker.exists() and not DEFAULT_MARKER.exists(), "a checkpoint's payload ran"
    assert outside() == before


def page(name: str, **state) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def working(at: AppTest) -> None:
    """The page ran to the end with the reference model: no exception, no error, digits shown."""
    assert not at.exception and not at.error and not at.sidebar.error
    assert at.image


# --- uploads on the Denoise page ------------------------------------------------------------

@pytest.fixture(scope="module")
def denoise(env) -> AppTest:
    return page("2_Denoise.py")


@pytest.mark.parametrize("name", UPLOADS)
def test_an_upload_is_denoised_or_refused_in_one_line(denoise, name):
    at, path = denoise, CORPUS / name
    upload = at.file_uploader(key="dn_upload")
    upload.set_value((path.name, path.read_bytes(), MIME[path.suffix])).run()
    assert not at.exception, at.exception
    if MANIFEST[name]["accept"]:
        assert not at.error
        own = at.main.image[-1].captions
        assert own[0] == "28×28, centred" and own[2].endswith(" dB")
    else:
        errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]  # as the browser shows them
        assert len(errors) == 1 and path.name in errors[0] and MANIFEST[name]["words"] in errors[0]
        assert "Traceback" not in errors[0]
    assert len(at.main.image[0].captions) == 8  # the rest of the page still works


# --- checkpoints through the sidebar's loader (ui.cache.load_checkpoint) ----------------------

@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_a_checkpoint_is_loaded_or_refused_and_the_app_recovers(env, tmp_path, name):
    path = tmp_path / Path(name).name
    shutil.copyfile(CORPUS / name, path)
    at = page("2_Denoise.py", session_runs={"corpus": str(path)})
    working(at)
    at.sidebar.selectbox[0].set_value("corpus (this session)").run()
    assert not at.exception, at.exception
    if MANIFEST[name]["accept"]:  # the d=8 model: a model card saying so, digits denoised
        working(at)
        assert any("d=8" in c.value for c in at.sidebar.caption)
    else:
        assert len(at.sidebar.error) == 1 and MANIFEST[name]["words"] in at.sidebar.error[0].value
        assert "Select or train a model" in at.info[0].value  # the page's guard, not a crash
        at.sidebar.selectbox[0].set_value("reference-d4").run()
        working(at)
    assert path.read_bytes() == (CORPUS / name).read_bytes()


@pytest.mark.slow  # encodes the training set
def test_the_d8_checkpoint_drives_eight_latent_sliders(env, monkeypatch):
    monkeypatch.setenv("DAE_EXPLORER", "off")  # the server-side sliders (AppTest runs no JavaScript)
    at = page("3_Generate.py", session_runs={"d8": str(CORPUS / "checkpoints/latent_d8.pt")},
              model="d8 (this session)")
    assert not at.exception and not at.error
    sliders = [s for s in at.slider if s.key.startswith("gen_z")]
    assert len(sliders) == 8
    (box,) = [image for image in at.main.image if image.captions[0].startswith("z = (")]
    assert box.captions[0].count(",") == 7  # z = (z0, ..., z7)
    preview = box.value  # a media URL named by the hash of the image bytes
    sliders[7].set_value(sliders[7].min).run()
    assert not at.exception
    assert [i.value for i in at.main.image if i.captions[0].startswith("z = (")] != [preview]


@pytest.fixture
def shipped_with_a_payload(env, tmp_path, monkeypatch):
    """checkpoints/ as an operator might leave it: the reference plus a hostile file."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "reference-d4.pt").symlink_to(ROOT / "checkpoints" / "reference-d4.pt")
    shutil.copyfile(CORPUS / "checkpoints/torch_zip_code.pt", shipped / "aaa-model.pt")
    monkeypatch.setattr("ui.models.SHIPPED_DIR", shipped)
    return shipped


@pytest.mark.slow  # page runs take seconds
def test_a_hostile_file_in_checkpoints_is_listed_but_never_runs(shipped_with_a_payload):
    at = page("2_Denoise.py")
    assert at.sidebar.selectbox[0].value == "reference-d4"  # the default still opens first
    working(at)
    at.sidebar.selectbox[0].set_value("aaa-model").run()
    assert not at.exception and "not a safe DAE Lab checkpoint" in at.sidebar.error[0].value
    train = page("1_Train.py")
    train.multiselect[0].set_value(["reference-d4", "aaa-model"]).run()  # compare runs
    assert not train.exception and "not a safe" in train.warning[0].value


# --- a refused checkpoint upload in the sidebar: what is wrong in the user's words, in sight -------

PYTHON_WORDS = re.compile(r"Error\b|Exception|Traceback|pickle|torch|zip|operand|global", re.I)


def _index_of(block, kind: str, inside: str | None = None) -> int:
    """Position among the sidebar's children of the first `kind` element (or of the child
    holding one, when `inside`)."""
    for i, child in block.children.items():
        if getattr(child, "type", None) == kind and inside is None:
            return i
        if inside and getattr(child, "children", None) and child.get(inside):
            return i
    raise LookupError(kind)


@pytest.mark.parametrize("name", [n for n in CHECKPOINTS if not MANIFEST[n]["accept"]])
def test_a_refused_upload_says_what_is_wrong_above_the_open_popover(env, name):
    """The message names the file and what is wrong, never a Python exception or its text; it
    is drawn above the popover (whose open panel covers the sidebar below its button) and toasted."""
    at = page("0_Home.py")
    path = CORPUS / name
    at.file_uploader(key="checkpoint_upload").set_value(
        (path.name, path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception and len(at.sidebar.error) == 1
    message = re.sub(r"\\(.)", r"\1", at.sidebar.error[0].value)  # as the browser shows it
    assert message.startswith(path.name) and not PYTHON_WORDS.search(message[len(path.name):])
    assert _index_of(at.sidebar, "error", inside="error") < _index_of(at.sidebar, "popover")
    assert [t.proto.body for t in at.get("toast")] == [at.sidebar.error[0].value]


# --- checkpoint names on the Train page ---------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(env, helpers):
    """A run trained to its end; its folder is in the runs folder, as a job's would be."""
    run = helpers.ended_run(TrainConfig(train_subset=300, epochs=1, batch_size=64, device="cpu"))
    assert run.status == "finished" and run.run.folder.parent == env
    return run


def saved_files(folder: Path) -> list[str]:
    """The files under `folder`, but for those of run folders (a run's own checkpoint, its progress)."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and not is_run_id(p.parent.name))


@pytest.fixture(scope="module")
def train(env, finished_run) -> AppTest:
    (env / "taken.pt").write_bytes(b"someone else's run")
    return page("1_Train.py", train_worker=finished_run)


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("name", [n for n in NAMES if len(n) <= 64], ids=repr)
def test_a_bad_checkpoint_name_is_one_error_and_writes_nothing(env, train, name):
    at = train
    at.text_input(key="train_save_name").set_value(name)
    at.button(key="train_save_button").click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1
    assert "checkpoint name" in at.error[0].value or "already exists" in at.error[0].value
    assert saved_files(env.parent) == ["taken.pt"]
    assert (env / "taken.pt").read_bytes() == b"someone else's run"
    assert not Path("/etc/x.pt").exists() and not (ROOT / "x.pt").exists()


def test_a_300_character_name_is_cut_to_64_by_the_box_and_saved_in_the_runs_folder(env, train):
    """The name box has max_chars=64: a pasted 300-character name arrives as its first 64
    characters, which is a valid name (the browser shows the cut name before Save)."""
    long = next(n for n in NAMES if len(n) > 64)
    train.text_input(key="train_save_name").set_value(long)
    train.button(key="train_save_button").click().run()
    assert not train.exception and not train.error
    saved = env / f"{long[:64]}.pt"
    assert saved.is_file()
    assert saved_files(env) == sorted([saved.name, "taken.pt"])
    saved.unlink()


def test_a_good_name_saves_after_the_bad_ones(env, train):
    train.text_input(key="train_save_name").set_value("corpus-ok")
    train.button(key="train_save_button").click().run()
    assert not train.exception and not train.error
    assert (env / "corpus-ok.pt").is_file()
    assert "corpus-ok (saved run)" in train.sidebar.selectbox[0].options
    (env / "corpus-ok.pt").unlink()


# --- settings on the Train form -------------------------------------------------------------------

def _widget(at: AppTest, field: str):
    return next(w for w in at.number_input if w.key == f"train_{field}")


def _tiny_form(at: AppTest, field: str, value) -> None:
    """A tiny run (300 images, 1 epoch, batches of 64) with one field set to `value`."""
    for name, tiny in {"train_subset": 300, "epochs": 1, "batch_size": 64, field: value}.items():
        _widget(at, name).set_value(tiny)


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("setting", [s for s in SETTINGS if isinstance(s["value"], (int, float))],
                         ids=lambda s: f"{s['field']}={s['value']}")
def test_an_impossible_setting_never_reaches_a_run(env, setting, inline_jobs):
    """Inside the widget's bounds but impossible (lr 0, val_fraction 0): one st.error, no run.
    Outside them: the browser marks the box invalid and does not submit the form (see
    tests/e2e/test_browser_faults.py); a forged value that reaches the server anyway is reset by
    Streamlit's number_input to a bound, which either TrainConfig names (no run) or is valid."""
    field, value = setting["field"], setting["value"]
    low, high = BOUNDS[field]
    at = page("1_Train.py")
    _tiny_form(at, field, value)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    if low <= value <= high:
        assert len(at.error) == 1 and field in at.error[0].value
        assert "train_worker" not in at.session_state
        return
    if "train_worker" not in at.session_state:  # reset to a bound that TrainConfig refuses: named
        assert len(at.error) == 1 and field in at.error[0].value
        return
    run = at.session_state["train_worker"]
    run.stop()
    assert inline_jobs.wait(120)
    run.refresh()
    assert not at.error and not run.active
    used = getattr(run.config, field)
    assert used != value and low <= used <= high  # the forged value never reached the run


def test_an_impossible_noise_strength_for_its_kind_is_an_error(env):
    at = page("1_Train.py")
    next(w for w in at.selectbox if w.key == "train_noise").set_value("mask")
    _tiny_form(at, "noise_strength", 3.0)  # fine for a gaussian sigma, not a share of pixels
    at.button(key="train_start").click().run()
    assert not at.exception and "noise_strength" in at.error[0].value
    assert "train_worker" not in at.session_state


# --- what a file or a link names shows as written; no server path reaches the browser -----------

MARKDOWN = "**x**[a](http:e)<b>"  # emphasis, a link and HTML, in a file name and a model card


def _elements(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _elements(child)


@pytest.fixture
def markdown_run(env):
    """A saved run whose file name and model card keys and values are Markdown and HTML."""
    payload = torch.load(CORPUS / "checkpoints/latent_d8.pt", weights_only=True)
    payload["metrics"] = {"**bold**": 0.5, "[a](http:e)": "<b>x</b>"}
    path = env / f"{MARKDOWN}.pt"
    torch.save(payload, path)
    yield f"{MARKDOWN} (saved run)"
    path.unlink()


@pytest.mark.slow  # page runs take seconds
def test_names_and_card_keys_from_a_file_show_as_written(markdown_run):
    at = page("2_Denoise.py", model=markdown_run)
    working(at)
    assert at.caption[0].value.startswith(f"Model **{plain(MARKDOWN)}**, trained")
    card = next(m.value for m in at.sidebar.markdown if "Model card" in m.value)
    for text in ("**bold**", "[a](http:e)", "<b>x</b>"):
        assert plain(text) in card
    assert "<b>" not in card and "](" not in card.replace("\\](", "")
    (download,) = at.sidebar.get("download_button")
    assert download.proto.label == f"Download {plain(MARKDOWN)}.pt"
    home = page("0_Home.py", model=markdown_run)
    (about,) = [box.value for box in home.info]
    assert about.startswith(f"Selected model: **{plain(MARKDOWN)}**")


def test_a_links_value_shows_as_written(env):
    at = AppTest.from_file(str(PAGES / "2_Denoise.py"), default_timeout=120)
    at.query_params["noise_seed"] = "`x` [a](http:e)"
    at.run()
    assert not at.exception
    (notice,) = [w.value for w in at.warning if "link" in w.value]
    assert "`noise_seed='x' [a](http:e)`" in notice  # a code span: no link, no emphasis


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("name", ["0_Home.py", "2_Denoise.py", "3_Generate.py"])
def test_no_server_path_reaches_the_browser(env, monkeypatch, name):
    monkeypatch.delenv("DAE_EXPLORER", raising=False)  # the in-browser explorer's element too
    at = page(name)
    leaks = [(type(e).__name__, getattr(e, "key", None)) for root in (at.main, at.sidebar)
             for e in _elements(root) if str(ROOT) in str(getattr(e, "proto", ""))]
    assert leaks == []


# --- what one session may keep of uploaded checkpoints -------------------------------------------

def _upload(at: AppTest, path: Path) -> None:
    at.file_uploader(key="checkpoint_upload").set_value(
        (path.name, path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception, at.exception


@pytest.mark.slow  # page runs take seconds
def test_a_session_keeps_a_bounded_number_and_size_of_uploads(env, monkeypatch, caplog):
    shipped, d8 = ROOT / "checkpoints", CORPUS / "checkpoints/latent_d8.pt"
    monkeypatch.setenv("DAE_MAX_UPLOADS", "2")
    at = page("0_Home.py")
    for path in (d8, shipped / "reference-d4.pt", d8):  # the same file again is already kept
        _upload(at, path)
        assert not at.sidebar.error
    with caplog.at_level(logging.INFO):
        _upload(at, shipped / "denoise-d10.pt")
    message = re.sub(r"\\(.)", r"\1", at.sidebar.error[0].value)
    assert message.startswith("denoise-d10.pt is not kept") and "keeps 2 uploaded" in message
    assert at.session_state["session_uploads"].keys() == {"latent_d8", "reference-d4"}
    (record,) = [r for r in caplog.records if "not kept" in r.getMessage()]
    assert record.levelname == "WARNING" and record.exc_info is None  # one line, no traceback
    monkeypatch.setenv("DAE_MAX_UPLOADS", "10")
    monkeypatch.setenv("DAE_MAX_UPLOAD_MB", "2")  # 0.4 + 1.1 MB kept, 1.1 MB more would pass 2
    _upload(at, shipped / "denoise-d10.pt")
    assert "would pass 2 MB" in at.sidebar.error[0].value
    monkeypatch.setenv("DAE_MAX_UPLOAD_MB", "3")
    _upload(at, shipped / "cluster-d10-refined.pt")
    assert not at.sidebar.error and len(at.session_state["session_uploads"]) == 3


def test_an_unexpected_failure_is_logged_with_its_traceback(env, monkeypatch, caplog):
    """A bug in a run's job: its folder says so in one line (what the page shows), and the job's
    log keeps the traceback."""
    from dae_core import train as train_mod
    from dae_core.serve import runs, training
    from dae_core.serve.trainer import train_run

    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nacross lines")

    monkeypatch.setattr(train_mod, "prepare_data", broken)
    run = runs.create(training.runs_dir(), TrainConfig(train_subset=300, epochs=1).to_dict(), 1)
    with caplog.at_level(logging.INFO):
        assert train_run(run.folder) == "failed"
    assert run.status()["message"] == "RuntimeError: a bug across lines"
    (record,) = [r for r in caplog.records if r.name == "dae_core.serve.trainer" and r.levelname == "ERROR"]
    assert record.exc_info[0] is RuntimeError


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("history", [[1, 2], [{"epoch": 1, "train_loss": 0.1, "val_loss": "0.1"}]],
                         ids=["not-records", "a-string-loss"])
def test_a_damaged_history_is_refused_and_every_page_still_renders(env, tmp_path, history):
    """Weights that fit, a history that does not: refused, so no page ever plots it."""
    payload = torch.load(CORPUS / "checkpoints/latent_d8.pt", weights_only=True)
    path = tmp_path / "damaged.pt"
    torch.save({**payload, "history": history}, path)
    at = AppTest.from_file(str(ROOT / "app_menu.py"), default_timeout=120)  # with its menu
    at.run()
    _upload(at, path)
    assert "damaged training history" in at.sidebar.error[0].value
    assert not at.session_state["session_uploads"]  # nothing listed for the other pages
    for other, title in [("1_Train", "Train"), ("2_Denoise", "Denoise"),
                         ("3_Generate", "Generate"), ("4_Cluster", "Cluster")]:
        at.switch_page(f"app_pages/{other}.py").run()
        assert not at.exception, (other, at.exception)
        assert at.title[0].value.startswith(title) and at.sidebar.selectbox[0].value == "reference-d4"
