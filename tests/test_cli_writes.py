"""The command line never destroys a file, and speaks one line: every command that writes refuses an
existing --out unless given --overwrite (also when the file appears while it works), --resume
without --out writes a new file, usage errors are one line with exit status 2, --help speaks of
the product."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from dae_core import checkpoint
from dae_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--train-subset", "300", "--device", "cpu"]
KEEP = b"a file the user wants to keep"


def run(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def model(ckpt_path, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(ckpt_path.read_bytes())
    return path


@pytest.fixture
def digit(tmp_path):
    img = Image.new("L", (100, 100), 255)
    ImageDraw.Draw(img).rectangle([45, 15, 55, 85], fill=0)
    img.save(tmp_path / "digit.png")
    return tmp_path / "digit.png"


def writers(model, digit) -> dict[str, tuple[list, str]]:
    """Every command that writes --out, with tiny settings: label -> (argv without --out, suffix)."""
    return {
        "train": (["train", *TINY, "--epochs", "1"], ".pt"),
        "train --resume": (["train", "--resume", model, "--epochs", "1"], ".pt"),
        "refine": (["refine", "--checkpoint", model, "--k", "3", "--rounds", "1", "--epochs", "1",
                    "--methods", "kmeans"], ".pt"),
        "refit-decoder": (["refit-decoder", "--checkpoint", model, "--epochs", "1"], ".pt"),
        "train-classifier": (["train-classifier", "--epochs", "1", "--subset", "256"], ".pt"),
        "train-split": (["train-split", "--teacher", model, "--teacher-method", "kmeans", "--epochs", "1",
                         *TINY], ".pt"),
        "generate .png": (["generate", "--checkpoint", model, "--n", "4"], ".png"),
        "generate .npy": (["generate", "--checkpoint", model, "--n", "4"], ".npy"),
        "denoise": (["denoise", "--checkpoint", model, "--image", digit], ".png"),
    }


LABELS = list(writers("m", "d"))
FINAL_WRITE_ONCE = [label for label in LABELS if not label.startswith("train")] + ["train-classifier"]


def marked(labels: list[str]) -> list:
    """The labels as parameters; the classifier's training takes seconds (slow)."""
    return [pytest.param(label, marks=pytest.mark.slow) if label == "train-classifier" else label for label in labels]


def commands(capsys) -> list[str]:
    """The CLI's commands, as its own usage error lists them."""
    code, _, err = run(capsys, "no-such-command")
    assert code == 2
    return re.findall(r"'([\w-]+)'", err.split("choose from", 1)[1])


def test_every_command_with_an_out_is_checked(capsys, model, digit):
    """A new command that writes a file cannot escape the checks below."""
    with_out = set()
    for command in commands(capsys):
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        if "--out" in text:
            with_out.add(command)
            assert "--overwrite" in text, command
    assert "train" in with_out
    assert with_out == {argv[0] for argv, _ in writers(model, digit).values()}


@pytest.mark.parametrize("label", marked(LABELS))
def test_an_existing_out_is_refused_and_kept(capsys, tmp_path, model, digit, label):
    argv, suffix = writers(model, digit)[label]
    out = tmp_path / f"precious{suffix}"
    out.write_bytes(KEEP)
    before = model.read_bytes()
    code, stdout, err = run(capsys, *argv, "--out", out)
    assert code == 2 and stdout == ""
    assert "already exists" in one_error_line(err) and "--overwrite" in err
    assert out.read_bytes() == KEEP and model.read_bytes() == before


@pytest.mark.slow  # takes seconds
@pytest.mark.parametrize("label", marked(LABELS))
def test_overwrite_does_replace_it(capsys, tmp_path, model, digit, label):
    argv, suffix = writers(model, digit)[label]
    out = tmp_path / f"old{suffix}"
    out.write_bytes(KEEP)
    code, _, err = run(capsys, *argv, "--out", out, "--overwrite")
    assert code == 0, err
    assert out.read_bytes() != KEEP and out.stat().st_size > 0
    if label in ("train", "train --resume", "refine"):
        assert checkpoint.load(out).history


@pytest.mark.slow  # takes seconds
@pytest.mark.parametrize("label", marked(sorted(set(FINAL_WRITE_ONCE))))
def test_a_file_that_appears_while_the_command_works_is_kept(capsys, tmp_path, model, digit, label,
                                                             monkeypatch):
    """The final write is exclusive, not only the check before the work: nothing is replaced."""
    argv, suffix = writers(model, digit)[label]
    out = tmp_path / f"late{suffix}"
    out.write_bytes(KEEP)
    monkeypatch.setattr("dae_core.cli.refuse_existing", lambda *a, **k: None)  # as if it came later
    code, _, err = run(capsys, *argv, "--out", out)
    assert code == 2 and err.strip().splitlines()[-1] == f"error: {out} already exists"
    assert out.read_bytes() == KEEP
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow  # takes seconds
def test_resume_without_out_writes_a_new_file_next_to_it(capsys, model):
    before = model.read_bytes()
    code, stdout, err = run(capsys, "train", "--resume", model, "--epochs", "1")
    first = model.with_name("model-more.pt")
    assert code == 0, err
    assert str(first) in stdout and "unchanged" in stdout and f"saving to {first}" in err
    assert model.read_bytes() == before
    assert len(checkpoint.load(first).history) == len(checkpoint.load(model).history) + 1
    code, stdout, _ = run(capsys, "train", "--resume", model, "--epochs", "1")
    second = model.with_name("model-more-2.pt")
    assert code == 0 and str(second) in stdout and model.read_bytes() == before
    losses = [[h["val_loss"] for h in checkpoint.load(p).history] for p in (first, second)]
    assert losses[0] == losses[1]  # the same continuation, twice


@pytest.mark.parametrize("argv, words", [
    (["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["cluster"], "required: --checkpoint"),
    (["cluster", "--checkpoint", "m.pt", "--seeds", "0"], "--seeds: must be a whole number from 1"),
    (["cluster", "--checkpoint", "m.pt", "--k", "two"], "--k: expected a whole number, got 'two'"),
    (["cluster", "--checkpoint", "m.pt", "--method", "dbscan"], "--method: invalid choice"),
    (["generate", "--checkpoint", "m.pt", "--out", "x.png", "--n", "-3"], "--n: must be"),
    (["refine", "--checkpoint", "m.pt", "--out", "x.pt", "--methods", "gmm,nope"], "unknown method 'nope'"),
    (["refine", "--checkpoint", "m.pt", "--out", "x.pt", "--threshold", "1.5"], "from 0 to 1"),
    (["denoise", "--checkpoint", "m.pt", "--image", "i.png", "--out", "o.png", "--scale", "0"], "--scale"),
    (["train-classifier"], "required: --out"),
    (["fly"], "invalid choice: 'fly'"),
    ([], "required: COMMAND"),
])
def test_usage_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(capsys, *argv)
    assert code == 2 and stdout == ""
    assert words in one_error_line(err) and "--help" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # starts another Python process
def test_a_usage_error_from_the_real_process_is_one_line():
    r = subprocess.run([sys.executable, "-m", "dae_core", "cluster", "--checkpoint", "m.pt", "--seeds", "0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)  # refused before any file is read
    assert r.returncode == 2 and r.stdout == ""
    assert "--seeds" in one_error_line(r.stderr)


def test_help_speaks_of_the_product_not_the_modules(capsys):
    texts = []
    for command in [None, *commands(capsys)]:
        assert main(["--help"] if command is None else [command, "--help"]) == 0
        texts.append(capsys.readouterr().out)
    assert "Train denoising autoencoders" in texts[0] and all("--help" in t for t in texts)
    for text in texts:
        found = [w for w in ("cli_", "cli.py", "__main__", "dae_core.", "TrainConfig", "ckpt") if w in text]
        assert not found, (found, text[:200])


def test_cluster_tells_stderr_what_it_is_doing_and_json_keeps_quiet(capsys, model, monkeypatch):
    class Embedding:  # a stand-in for UMAP, whose first call compiles for ~30 s
        def __init__(self, z):
            self.embedding_ = z[:, :2]

        def transform(self, z):
            return z[:, :2]

    monkeypatch.setattr("dae_core.analysis.cluster._fit_umap", lambda z, *args: Embedding(z))
    code, _, err = run(capsys, "cluster", "--checkpoint", model, "--method", "umap-kmeans")
    assert code == 0, err
    assert "encoding the training and test images" in err and "240 training" in err, err
    assert "UMAP (240 points" in err and "fitting k-means" in err, err
    assert err.index("encoding") < err.index("UMAP") < err.index("k-means"), err
    code, stdout, err = run(capsys, "cluster", "--checkpoint", model, "--method", "umap-kmeans", "--json")
    assert code == 0 and err == "" and stdout.startswith("{")
