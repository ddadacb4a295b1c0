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
    assert code == 0 and result["shape"] == [4, 5, 28, 28], _
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
    sampler = LatentSampler("cluster:4", class_dims=list(range(10))).fit(z)
    drawn = sampler.sample(300, seed=1)
    assert np.abs(drawn[:, :10].argmax(axis=1) - 4).max() == 0  # every code names group 4
    assert drawn[:, 10:].mean() == pytest.approx(4, abs=0.3)
    assert sampler.gmm.weights_.sum() == pytest.approx(1.0)
    few = LatentSampler("cluster:0", class_dims=list(range(10))).fit(z[groups != 7][:60])
    assert few.gmm.weights_[7] == 0 and few.gmm.weights_.sum() == pytest.approx(1.0)
    assert (few.sample(200, seed=0)[:, :10].argmax(axis=1) != 7).all()  # an empty class is never drawn
    with pytest.raises(DaeError, match="component 7"):
        few.restrict(7).sample(1, seed=0)


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


def _split_codes(n=2000, seed=0):
    """(z, labels): codes whose 10 class coordinates name their label, with 3 wide style numbers."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    style = rng.normal(scale=20.0, size=(n, 3)) + labels[:, None]
    return np.concatenate([np.eye(10)[labels] * 0.9 + 0.01, style], axis=1).astype(np.float32), labels


def test_sweeps_with_class_dims_keep_one_class_and_span_its_own_range():
    z, labels = _split_codes()
    codes = style_sweep_codes(z, [10, 11, 12], n=6, steps=4, class_dims=list(range(10)))
    for i, row in enumerate(codes):
        named = row[:, :10].argmax(axis=1)
        assert (named == named[0]).all()
        j = 10 + i % 3
        low, high = np.percentile(z[labels == named[0], j], [1, 99])
        assert row[0, j] == pytest.approx(low, rel=1e-4) and row[-1, j] == pytest.approx(high, rel=1e-4)


def test_a_split_models_default_sampler_draws_one_class_at_a_time():
    from dae_core.analysis.latent import DEFAULT_SAMPLER, LatentSampler

    z, _ = _split_codes()
    drawn = LatentSampler(DEFAULT_SAMPLER, class_dims=list(range(10))).fit(z).sample(500, seed=2)
    top = np.sort(drawn[:, :10], axis=1)
    assert (top[:, -1] > 0.5).all() and (top[:, -2] < 0.3).all()  # one class, never a blend of two
    assert len(np.unique(drawn[:, :10].argmax(axis=1))) == 10


def test_a_split_sampler_is_kept_apart_from_a_whole_code_one():
    from dae_core import store
    from dae_core.analysis.latent import fitted_sampler

    store.forget()
    z, _ = _split_codes()
    split = fitted_sampler("gmm", "model-x", lambda: z, class_dims=list(range(10)))
    whole = fitted_sampler("gmm", "model-x", lambda: z)
    assert split.n_components == 10 and whole.n_components == 40
    store.forget()  # from disk now: the split one comes back split
    again = fitted_sampler("cluster:3", "model-x", lambda: pytest.fail("refit"), class_dims=list(range(10)))
    assert again.class_dims == list(range(10)) and again.component == 3
    assert np.allclose(again.gmm.means_, split.gmm.means_)


def test_clustering_a_split_model_reads_its_class_part_alone():
    from dae_core.analysis.pipeline import Codes, cluster_codes, clustering_params

    z, labels = _split_codes(1500)
    zt, yt = _split_codes(500, seed=1)
    codes = Codes(z, labels, zt, yt, np.arange(len(z)), 0.0)
    on_class = cluster_codes(codes, 10, "kmeans", 0, class_dims=list(range(10)))
    on_all = cluster_codes(codes, 10, "kmeans", 0)
    assert on_class.train.accuracy == 1.0 and on_class.test.accuracy == 1.0
    assert on_all.train.accuracy < 0.8  # the wide style numbers would lead a whole-code clustering
    assert clustering_params(codes, "kmeans", 10, 0, [0, 1]) != clustering_params(codes, "kmeans", 10, 0)
