"""`dae train-split` and the style dials (`dae generate --style-sweeps`), in-process on tiny data."""
import json

import numpy as np
import pytest

from dae_core import checkpoint
from dae_core.analysis.dials import style_sweep_codes
from dae_core.cli import main
from dae_core.errors import DaeError

TINY = ["--train-subset", "300", "--device", "cpu", "--batch-size", "32", "--teacher-method", "gmm"]


def run(capsys, *argv):
    """main(argv) -> (exit code, parsed stdout JSON or None, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else out), err


@pytest.fixture(scope="module")
def split_ckpt(ckpt_path, tmp_path_factory):
    """A split model trained for 2 epochs on 240 digits, the tiny reference model as its teacher."""
    out = tmp_path_factory.mktemp("split") / "split.pt"
    assert main(["train-split", "--teacher", str(ckpt_path), "--epochs", "2", "--style-dim", "3",
                 "--out", str(out), *TINY]) == 0
    return out


@pytest.mark.slow  # takes seconds
def test_train_split_saves_a_model_with_its_parts_and_recipe(split_ckpt):
    loaded = checkpoint.load(split_ckpt)
    assert loaded.parts == {"class": list(range(10)), "style": [10, 11, 12]}
    assert [h["epoch"] for h in loaded.history] == [1, 2]
    assert loaded.metrics["teacher"] == "tiny" and 0 < loaded.metrics["trusted"] <= 1


def test_train_split_refuses_an_existing_out(capsys, split_ckpt):
    code, _, err = run(capsys, "train-split", "--out", str(split_ckpt), *TINY)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # takes seconds
def test_style_sweeps_write_rows_of_one_swept_coordinate(capsys, split_ckpt, tmp_path):
    out = tmp_path / "sweeps.npy"
    code, result, _ = run(capsys, "generate", "--checkpoint", str(split_ckpt), "--style-sweeps", "4",
                          "--steps", "5", "--out", str(out), "--json")
    assert code == 0 and result["shape"] == [4, 5, 28, 28]
    sweeps = np.load(out)
    assert sweeps.shape == (4, 5, 28, 28) and 0 <= sweeps.min() and sweeps.max() <= 1
    assert all(np.abs(row[0] - row[-1]).max() > 0 for row in sweeps)  # the dial changes the digit's look


def test_style_sweeps_of_a_model_without_style_are_one_line(capsys, ckpt_path, tmp_path):
    code, _, err = run(capsys, "generate", "--checkpoint", str(ckpt_path), "--style-sweeps", "2",
                       "--out", str(tmp_path / "x.npy"))
    assert code == 2 and "no style part" in err and len(err.strip().splitlines()) == 1


def test_sweep_codes_move_one_style_coordinate_and_keep_the_class_part():
    rng = np.random.default_rng(0)
    z = np.concatenate([np.eye(4)[rng.integers(0, 4, 500)], rng.normal(size=(500, 2))], axis=1)
    codes = style_sweep_codes(z.astype(np.float32), [4, 5], n=4, steps=6, sampler="gaussian")
    assert codes.shape == (4, 6, 6)
    for i, row in enumerate(codes):
        moving = np.flatnonzero(np.ptp(row, axis=0) > 0)
        assert moving.tolist() == [[4, 5][i % 2]]
        low, high = np.percentile(z[:, moving[0]], [1, 99])
        assert row[0, moving[0]] == pytest.approx(low, rel=1e-5)
        assert row[-1, moving[0]] == pytest.approx(high, rel=1e-5)
    with pytest.raises(DaeError, match="2 steps"):
        style_sweep_codes(z, [4], n=1, steps=1)


def test_group_mixture_draws_cluster_k_from_group_k_alone():
    from dae_core.analysis.latent import LatentSampler

    rng = np.random.default_rng(0)
    groups = rng.integers(0, 10, 2000)
    z = np.concatenate([np.eye(10)[groups], rng.normal(size=(2000, 3)) + groups[:, None]], axis=1)
    sampler = LatentSampler("cluster:4").fit(z, groups)
    drawn = sampler.sample(300, seed=1)
    assert np.abs(drawn[:, :10].argmax(axis=1) - 4).max() == 0  # every code names group 4
    assert drawn[:, 10:].mean() == pytest.approx(4, abs=0.3)
    assert sampler.gmm.weights_.sum() == pytest.approx(1.0)
    with pytest.raises(DaeError, match="at least 2 codes"):
        LatentSampler("cluster:0").fit(z[:5], groups[:5])


def test_cluster_k_of_a_split_model_comes_from_its_class_part(capsys, split_ckpt, tmp_path):
    from dae_core.analysis.dials import class_groups, component_digits, fit_sampler
    from dae_core.analysis.latent import encode

    model = checkpoint.load(split_ckpt).model
    z = encode(model, np.random.default_rng(0).random((400, 28, 28)).astype(np.float32))
    groups = class_groups(model, z)
    assert groups.shape == (400,) and (groups == z[:, :10].argmax(axis=1)).all()
    if np.bincount(groups, minlength=10).min() >= 2:  # a 2-epoch model may leave a class empty
        sampler = fit_sampler(model, z, "cluster:0")
        assert component_digits(model, sampler, z, groups) == {k: k for k in np.unique(groups).tolist()}
