"""The command line, called in-process: train / resume / evaluate / cluster / generate / denoise."""
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from support import WritesMarker, hostile_bytes  # noqa: E402  (pytest puts tests/ on the path)

from dae_core import checkpoint
from dae_core.cli import main

TINY = ["--train-subset", "300", "--device", "cpu"]


def run(capsys, *argv):
    """main(argv) -> (exit code, parsed stdout JSON or None, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else out), err


@pytest.fixture
def ckpt_copy(ckpt_path, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(ckpt_path.read_bytes())
    return path


@pytest.mark.slow  # takes seconds
def test_train_then_resume(capsys, tmp_path):
    out = tmp_path / "x.pt"
    code, result, _ = run(capsys, "train", *TINY, "--epochs", "1", "--out", str(out), "--json")
    assert code == 0
    assert len(result["history"]) == 1 and result["checkpoint"] == str(out)
    assert result["config"]["train_subset"] == 300
    assert checkpoint.load(out).history == result["history"]

    code, resumed, _ = run(capsys, "train", "--resume", str(out), "--epochs", "1", "--json")
    assert code == 0 and resumed["checkpoint"] == str(tmp_path / "x-more.pt")  # a new file
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == result["history"][0]
    assert len(checkpoint.load(resumed["checkpoint"]).history) == 2
    assert len(checkpoint.load(out).history) == 1


@pytest.mark.slow  # takes seconds
def test_train_as_a_job_matches_training_here_and_resumes(capsys, tmp_path, inline_jobs):
    """--ray as far as this process goes: a run folder, a job (run on a thread here; on a real
    Ray in tests/test_serve_ray.py), followed from the folder, its checkpoint written to --out."""
    here, job = tmp_path / "here.pt", tmp_path / "job.pt"
    assert run(capsys, "train", *TINY, "--epochs", "2", "--out", str(here))[0] == 0
    code, result, err = run(capsys, "train", *TINY, "--epochs", "2", "--out", str(job), "--ray", "--json")
    assert code == 0 and "submitted to" in err and len(inline_jobs.submitted) == 1
    expected = checkpoint.load(here).history
    assert [h["val_loss"] for h in result["history"]] == pytest.approx([h["val_loss"] for h in expected], rel=1e-4)
    assert checkpoint.load(job).history == result["history"]  # saved where it was asked to be

    code, resumed, _ = run(capsys, "train", "--resume", str(job), "--epochs", "1", "--ray", "--json")
    assert code == 0 and [h["epoch"] for h in resumed["history"]] == [1, 2, 3] and len(inline_jobs.submitted) == 2
    assert len(checkpoint.load(tmp_path / "job-more.pt").history) == 3
    assert len(checkpoint.load(job).history) == 2


def test_train_with_a_preset_and_a_flag_that_overrides_it(capsys, tmp_path):
    out = tmp_path / "q.pt"
    code, result, _ = run(capsys, "train", "--preset", "quick", *TINY, "--epochs", "1", "--out", str(out),
                          "--json")
    assert code == 0
    cfg = result["config"]
    assert (cfg["schedule"], cfg["lr"], cfg["epochs"]) == ("onecycle", 0.015, 1)  # --epochs wins
    assert checkpoint.load(out).config.schedule == "onecycle"


@pytest.mark.slow  # takes seconds
def test_train_refuses_to_overwrite_unless_asked(capsys, ckpt_copy):
    before = ckpt_copy.read_bytes()
    code, _, err = run(capsys, "train", *TINY, "--epochs", "1", "--out", str(ckpt_copy))
    assert code == 2 and "--resume" in err and "--overwrite" in err
    assert ckpt_copy.read_bytes() == before  # nothing saved is lost
    code, result, _ = run(capsys, "train", *TINY, "--epochs", "1", "--out", str(ckpt_copy), "--overwrite",
                          "--json")
    assert code == 0 and len(checkpoint.load(ckpt_copy).history) == 1


def test_resume_refuses_a_preset(capsys, ckpt_copy):
    code, _, err = run(capsys, "train", "--resume", str(ckpt_copy), "--preset", "quick")
    assert code == 2 and "preset" in err


def test_resume_refuses_a_changed_config(capsys, ckpt_copy):
    code, _, err = run(capsys, "train", "--resume", str(ckpt_copy), "--latent-dim", "8")
    assert code == 2 and "latent_dim" in err


@pytest.mark.slow  # takes seconds
def test_evaluate(capsys, ckpt_copy):
    code, result, _ = run(capsys, "evaluate", "--checkpoint", str(ckpt_copy), "--json")
    assert code == 0
    assert 0 < result["val_mse"] < 1 and 0 < result["test_mse"] < 1
    assert result["val_psnr"] == pytest.approx(10 * np.log10(1 / result["val_mse"]))


@pytest.mark.slow  # takes seconds
def test_cluster(capsys, ckpt_copy):
    code, result, _ = run(capsys, "cluster", "--checkpoint", str(ckpt_copy), "--json")
    assert code == 0
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["test"]["accuracy"] <= 1
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == result["n_train"] == 240


@pytest.mark.slow  # takes seconds
def test_cluster_save_metrics_records_train_and_test_scores_on_the_card(capsys, ckpt_copy):
    code, result, _ = run(capsys, "cluster", "--checkpoint", str(ckpt_copy), "--method", "gmm",
                          "--save-metrics", "--json")
    assert code == 0
    card = checkpoint.load(ckpt_copy).metrics
    assert card["gmm_accuracy"] == result["accuracy"] and card["gmm_nmi"] == result["nmi"]
    assert card["gmm_test_accuracy"] == result["test"]["accuracy"]


@pytest.mark.slow  # takes seconds
def test_generate(capsys, ckpt_copy, tmp_path):
    out = tmp_path / "f.npy"
    code, result, _ = run(capsys, "generate", "--checkpoint", str(ckpt_copy), "--n", "5",
                          "--out", str(out), "--json")
    assert code == 0 and result["shape"] == [5, 28, 28]
    images = np.load(out)
    assert images.shape == (5, 28, 28) and images.min() >= 0 and images.max() <= 1


@pytest.mark.slow  # fits a mixture on the full training codes
def test_generate_draws_what_the_app_draws_and_names_the_sampler(capsys, ckpt_copy, tmp_path):
    from dae_core.analysis.latent import DEFAULT_SAMPLER, LatentSampler, decode
    from dae_core.analysis.pipeline import encode_splits

    out = tmp_path / "f.npy"
    code, text, _ = run(capsys, "generate", "--checkpoint", str(ckpt_copy), "--n", "4", "--seed", "3",
                        "--out", str(out))
    assert code == 0 and f"{DEFAULT_SAMPLER} sampler" in text and str(out) in text
    ck = checkpoint.load(ckpt_copy)
    codes = encode_splits(ck.model, ck.config)  # the app fits its samplers on the training split
    assert len(codes.z_train) == 240
    app = decode(ck.model, LatentSampler(DEFAULT_SAMPLER).fit(codes.z_train).sample(4, 3, 4))
    np.testing.assert_array_equal(np.load(out), app)


@pytest.mark.slow  # takes seconds
def test_generate_writes_a_png_grid_to_exactly_the_path_given(capsys, ckpt_copy, tmp_path):
    out = tmp_path / "digits.png"
    code, text, _ = run(capsys, "generate", "--checkpoint", str(ckpt_copy), "--n", "9", "--out", str(out))
    assert code == 0 and text.strip().endswith(str(out))
    grid = Image.open(out)
    assert grid.format == "PNG" and grid.size[0] > 3 * 28 * 2 - 1  # 3 x 3 digits, enlarged twice
    code, _, err = run(capsys, "generate", "--checkpoint", str(ckpt_copy), "--out", str(tmp_path / "digits"))
    assert code == 2 and ".png" in err and not (tmp_path / "digits.npy").exists()


@pytest.mark.slow  # takes seconds
def test_cluster_over_seeds_prints_the_spread_and_the_test_scores(capsys, ckpt_copy):
    code, text, _ = run(capsys, "cluster", "--checkpoint", str(ckpt_copy), "--seeds", "2")
    assert code == 0
    assert "test codes: accuracy" in text
    assert "train over 2 seeds: accuracy" in text and "±" in text and "test over 2 seeds" in text


def _digit_png(path):
    img = Image.new("L", (100, 100), 255)
    ImageDraw.Draw(img).rectangle([45, 15, 55, 85], fill=0)
    img.save(path)
    return path


def test_denoise(capsys, ckpt_copy, tmp_path):
    image, out = _digit_png(tmp_path / "x.png"), tmp_path / "y.png"
    code, result, _ = run(capsys, "denoise", "--checkpoint", str(ckpt_copy), "--image", str(image),
                          "--out", str(out), "--noise", "gaussian", "--scale", "2", "--json")
    assert code == 0 and 0 <= result["mse_to_input"] < 1
    png = Image.open(io.BytesIO(out.read_bytes()))
    assert png.format == "PNG" and png.size == (56, 56)


def _error_cases(tmp_path, ckpt_path):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(hostile_bytes(tmp_path / "pwned", gadget=WritesMarker))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    new = str(tmp_path / "new.pt")
    return {
        "hostile checkpoint": ["evaluate", "--checkpoint", str(evil)],
        "missing checkpoint": ["cluster", "--checkpoint", str(tmp_path / "missing.pt")],
        "zero epochs": ["train", *TINY, "--epochs", "0", "--out", new],
        "negative lr": ["train", *TINY, "--lr", "-1", "--out", new],
        "non-image": ["denoise", "--checkpoint", str(ckpt_path), "--image", str(text),
                      "--out", str(tmp_path / "y.png")],
        "bad n": ["generate", "--checkpoint", str(ckpt_path), "--n", "0",
                  "--out", str(tmp_path / "f.npy")],
    }


@pytest.mark.slow  # takes seconds
def test_errors_exit_2_with_one_line(capsys, tmp_path, ckpt_path):
    for label, argv in _error_cases(tmp_path, ckpt_path).items():
        code, out, err = run(capsys, *argv)
        assert code == 2, label
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (label, err)
        assert "Traceback" not in err + out, label
    assert not (tmp_path / "pwned").exists()
    leftovers = {"new.pt", "y.png", "f.npy"} & {p.name for p in tmp_path.iterdir()}
    assert leftovers == set()


def test_a_bad_setting_stops_every_command_with_one_line(capsys, monkeypatch):
    assert run(capsys, "runs", "list")[0] == 0
    monkeypatch.setenv("DAE_MAX_RUNS", "two")
    code, out, err = run(capsys, "runs", "list")
    assert code == 2 and out == ""
    assert err.startswith("error: DAE_MAX_RUNS must be a whole number") and err.count("\n") == 1


@pytest.mark.parametrize("extra, message", [
    ({"model": "../../etc/passwd"}, "64 hexadecimal digits"),
    ({"model": 7}, "64 hexadecimal digits"),
    ({"model": "a" * 64, "class_dims": "0,1"}, "list of code positions"),
    ({"model": "a" * 64, "class_dims": [0, -1]}, "list of code positions"),
])
def test_an_analysis_spec_naming_its_model_wrongly_is_one_line(capsys, extra, message):
    spec = {"kind": "clustering", "checkpoint": "checkpoints/reference-d4.pt", "k": 3, "method": "kmeans",
            "seed": 0, **extra}
    code, out, err = run(capsys, "analyse", "--spec", json.dumps(spec))
    assert code == 2 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
