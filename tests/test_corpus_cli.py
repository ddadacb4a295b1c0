"""The bad-input corpus (tests/data/corpus) through the command line: denoise, evaluate, train.

Each refused input is one 'error: ...' line on stderr with exit code 2 (never a traceback),
writes nothing (the --out file does not appear, the input checkpoint is unchanged) and runs no
payload (the marker file of the code-carrying checkpoints stays absent). Usable odd images
and the d=8 checkpoint are accepted and work.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dae_core import checkpoint as ckpt_io
from dae_core.cli import main
from dae_core.config import TrainConfig
from dae_core.errors import ConfigError
from dae_core.images import load_digit
from corpus_guard import outside  # noqa: E402  (pytest puts tests/ on the path)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
SETTINGS = json.loads((CORPUS / "settings.json").read_text())
REFERENCE = ROOT / "checkpoints" / "reference-d4.pt"
DEFAULT_MARKER = Path("/tmp/dae-lab-corpus-marker")  # make_corpus.DEFAULT_MARKER
UPLOADS = sorted(n for n in MANIFEST if n.startswith("uploads/"))
CHECKPOINTS = sorted(n for n in MANIFEST if n.startswith("checkpoints/"))


@pytest.fixture(autouse=True)
def guard(tmp_path, monkeypatch):
    """Run in an empty folder with the payload marker pointed into it; afterwards check that the
    payload never ran and that nothing outside it was written (see outside())."""
    marker = tmp_path / "payload-ran"
    monkeypatch.setenv("DAE_CORPUS_MARKER", str(marker))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # a relative write would land here, where the test sees it
    before = outside()
    yield work
    assert not marker.exists() and not DEFAULT_MARKER.exists(), "a checkpoint's payload ran"
    assert outside() == before


def cli(capsys, *args) -> tuple[int, str, str]:
    """main(args) -> (exit code, stdout, stderr); argparse errors exit 2 through SystemExit."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(code: int, err: str, words: str) -> None:
    """Exit code 2 and exactly one 'error:' line naming the problem; no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert words.lower() in lines[0].lower(), err


def private_copy(name: str, guard: Path) -> Path:
    """A copy of a corpus checkpoint the command may (wrongly) write to; the corpus stays clean."""
    path = guard / Path(name).name
    shutil.copyfile(CORPUS / name, path)
    return path


def test_the_corpus_matches_its_generator():
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()}
    assert set(MANIFEST) <= on_disk, "run python tests/data/make_corpus.py"


@pytest.mark.parametrize("name, loader", [
    ("checkpoints/pickle_code.pt", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))"),
    ("checkpoints/torch_zip_code.pt",
     "import torch, sys; torch.load(sys.argv[1], weights_only=False)"),
])
@pytest.mark.slow  # starts another Python process
def test_the_code_carrying_checkpoints_are_live(tmp_path, name, loader):
    """Unpickled the unsafe way (in a child process), each payload does run: the refusals below
    are refusals of real attacks, not of broken files."""
    marker = tmp_path / "live-marker"
    env = dict(os.environ, DAE_CORPUS_MARKER=str(marker))
    subprocess.run([sys.executable, "-c", loader, str(CORPUS / name)], env=env, cwd=tmp_path,
                   capture_output=True, timeout=120)
    assert marker.read_text() == "payload ran"


@pytest.mark.parametrize("name", UPLOADS)
def test_denoise_an_upload(capsys, guard, name):
    out = guard / "clean.png"
    code, stdout, err = cli(capsys, "denoise", "--checkpoint", REFERENCE, "--image", CORPUS / name,
                            "--out", out, "--json")
    if MANIFEST[name]["accept"]:
        assert code == 0, err
        assert json.loads(stdout)["out"] == str(out)
        with Image.open(out) as img:
            assert img.size == (28, 28)
    else:
        refused(code, err, MANIFEST[name]["words"])
        assert not out.exists()
    assert sorted(p.name for p in guard.iterdir()) == (["clean.png"] if code == 0 else [])


@pytest.mark.parametrize("name", ["uploads/animated.gif", "uploads/cmyk.jpg", "uploads/gray16.png",
                                  "uploads/rgba_transparent.png", "uploads/huge_8000x8000.jpg"])
def test_odd_images_read_as_the_digit_they_show(name):
    """Each odd encoding of the control digit (an MNIST 7) gives nearly the same 28x28 input."""
    digit = load_digit(CORPUS / name)
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert 0.0 <= digit.min() and digit.max() == pytest.approx(1.0)
    if name != "uploads/huge_8000x8000.jpg":  # the huge one is a drawn 7, not the MNIST one
        control = load_digit(CORPUS / "uploads/control_digit.png")
        assert np.abs(digit - control).mean() < 0.02
    else:
        assert digit.sum() > 20  # a thick stroke survives the 8000 -> 2000 -> 20 px downscale


def test_a_gif_is_read_by_its_first_frame():
    with Image.open(CORPUS / "uploads/animated.gif") as gif:
        assert gif.n_frames == 2
        first = np.asarray(gif.convert("L"), np.float64) / 255.0
    from dae_core.images import to_mnist

    np.testing.assert_allclose(load_digit(CORPUS / "uploads/animated.gif"), to_mnist(first),
                               atol=1e-6)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_denoise_with_a_checkpoint(capsys, guard, name):
    out = guard / "clean.png"
    code, _, err = cli(capsys, "denoise", "--checkpoint", CORPUS / name,
                       "--image", CORPUS / "uploads/control_digit.png", "--out", out)
    if MANIFEST[name]["accept"]:
        assert code == 0 and out.is_file(), err
    else:
        refused(code, err, MANIFEST[name]["words"])
        assert not out.exists()


@pytest.mark.slow  # takes seconds
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_evaluate_and_save_metrics(capsys, guard, name):
    """--save-metrics rewrites the checkpoint: a refused file must come out byte-for-byte intact."""
    path = private_copy(name, guard)
    before = path.read_bytes()
    code, stdout, err = cli(capsys, "evaluate", "--checkpoint", path, "--save-metrics", "--json")
    if MANIFEST[name]["accept"]:
        assert code == 0, err
        assert 0 < json.loads(stdout)["val_mse"] < 1
        assert ckpt_io.load(path).metrics["val_mse"] == pytest.approx(json.loads(stdout)["val_mse"])
    else:
        refused(code, err, MANIFEST[name]["words"])
        assert path.read_bytes() == before
    assert [p.name for p in guard.iterdir()] == [path.name]  # no temporary file left behind


@pytest.mark.slow  # takes seconds
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_resume_training_from_a_checkpoint(capsys, guard, name):
    path, out = private_copy(name, guard), guard / "more.pt"
    code, _, err = cli(capsys, "train", "--resume", path, "--epochs", 1, "--out", out)
    if MANIFEST[name]["accept"]:  # the d=8 model goes on as a d=8 model
        assert code == 0, err
        ck = ckpt_io.load(out)
        assert ck.config.latent_dim == 8
        assert len(ck.history) == len(ckpt_io.load(path).history) + 1
    else:
        refused(code, err, MANIFEST[name]["words"])
        assert not out.exists()


@pytest.mark.slow  # encodes and clusters the training set
def test_the_d8_checkpoint_generates_and_clusters_as_d8(capsys, guard):
    code, stdout, err = cli(capsys, "generate", "--checkpoint", CORPUS / "checkpoints/latent_d8.pt",
                            "--n", 4, "--out", guard / "z.npy", "--json")
    assert code == 0, err
    images = np.load(guard / "z.npy")
    assert images.shape == (4, 28, 28) and np.isfinite(images).all()
    ck = ckpt_io.load(CORPUS / "checkpoints/latent_d8.pt")
    assert ck.config.latent_dim == 8 and ck.model.latent_dim == 8


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s['field']}={s['value']}")
def test_an_impossible_setting_is_refused_by_train(capsys, guard, setting):
    field, value = setting["field"], setting["value"]
    out = guard / "x.pt"
    code, _, err = cli(capsys, "train", f"--{field.replace('_', '-')}", value, "--out", out)
    refused(code, err, field)
    assert not out.exists()


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s['field']}={s['value']}")
def test_an_impossible_setting_is_refused_by_train_config(setting):
    value = setting["value"]
    value = float(value) if isinstance(value, str) else value  # "nan", "inf"
    with pytest.raises(ConfigError, match=setting["field"]):
        TrainConfig(**{setting["field"]: value})


@pytest.mark.parametrize("args, words", [
    (["train", "--epochs", "ten"], "invalid int value"),
    (["train", "--lr", "nan", "--out", "x.pt"], "Learning rate (lr) must be a finite number"),
    (["denoise", "--checkpoint", "{corpus}/checkpoints/pickle_code.pt", "--image",
      "{corpus}/uploads/control_digit.png", "--out", "x.png"], "not a safe DAE Lab checkpoint"),
    (["denoise", "--checkpoint", "{reference}", "--image", "{corpus}/uploads/truncated.png",
      "--out", "x.png"], "not a readable image"),
], ids=["argparse", "setting", "payload", "image"])
@pytest.mark.slow  # starts another Python process
def test_the_real_process_exits_2_with_one_line(guard, args, words):
    """The same refusals through `python -m dae_core`: exit status and stderr as a shell sees."""
    args = [a.format(corpus=CORPUS, reference=REFERENCE) for a in args]
    r = subprocess.run([sys.executable, "-m", "dae_core", *args], cwd=guard,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert words in r.stderr.strip().splitlines()[-1]
    assert list(guard.iterdir()) == []
