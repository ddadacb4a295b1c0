"""dae_core.store: entries round-trip exactly; corrupt, stale or mismatched ones read as absent."""
import os

import numpy as np
import pytest
import torch

from dae_core import checkpoint, clustering_store, store
from dae_core.paths import CHECKPOINT_DIR, ROOT


def test_maps_round_trip_and_refuse_non_finite_points(tmp_path):
    idx, xy = np.array([1, 4, 7]), np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    store.save_map("m", "tsne", 10, 3, 0, idx, xy, tmp_path)
    got_idx, got_xy = store.load_map("m", "tsne", 10, 3, 0, [tmp_path])
    np.testing.assert_array_equal(got_idx, idx)
    np.testing.assert_array_equal(got_xy, xy)
    assert store.load_map("m", "tsne", 11, 3, 0, [tmp_path]) is None  # codes of another length
    xy[1, 0] = np.inf
    store.save_map("m", "tsne", 10, 3, 0, idx, xy, tmp_path)
    assert store.load_map("m", "tsne", 10, 3, 0, [tmp_path]) is None
    store.save_map("m", "umap", 3, 3, 0, range(3), np.zeros((3, 2)), tmp_path)
    assert store.load_map("m", "umap", 3, 3, 0, [tmp_path])[1].shape == (3, 2)  # a UMAP map of all codes


def test_codes_round_trip_and_refuse_another_latent_size(blob_codes, tmp_path):
    store.save_codes("m", blob_codes, tmp_path)
    got = store.load_codes("m", 4, [tmp_path])
    for name in ("z_train", "y_train", "z_test", "y_test", "train_index"):
        np.testing.assert_array_equal(getattr(got, name), getattr(blob_codes, name))
    assert store.load_codes("m", 5, [tmp_path]) is None


def test_an_unwritable_folder_stores_nothing_and_raises_nothing(blob_codes, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert store.save_codes("m", blob_codes, blocker / "sub") is None


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    assert store.cache_dir() == tmp_path
    monkeypatch.delenv("DAE_CACHE_DIR")
    assert store.cache_dir() == ROOT / "data" / "cache"


def test_fingerprint_follows_the_weights_and_config(ckpt_path):
    ck = checkpoint.load(ckpt_path)
    fp = store.fingerprint(ck.model, ck.config)
    assert fp == store.fingerprint(checkpoint.load(ckpt_path).model, ck.config)
    from dataclasses import replace

    assert store.fingerprint(ck.model, replace(ck.config, seed=ck.config.seed + 1)) != fp
    with torch.no_grad():
        next(ck.model.parameters())[0].flatten()[0] += 1e-3
    assert store.fingerprint(ck.model, ck.config) != fp


@pytest.mark.slow  # takes seconds
def test_the_shipped_entry_fits_the_shipped_model():
    """checkpoints/cache/ holds UMAP + GMM for cluster-d10-refined (benchmarks/ship_cache.py)."""
    from dae_core.analysis.pipeline import encode_splits

    ck = checkpoint.load(CHECKPOINT_DIR / "cluster-d10-refined.pt")
    c = encode_splits(ck.model, ck.config)
    fp = store.fingerprint(ck.model, ck.config)
    result = clustering_store.load_clustering(fp, c, "umap-gmm", 10, 0, [store.SHIPPED_DIR])
    assert result is not None and result.train.accuracy > 0.9 and result.test.accuracy > 0.9
    idx, xy = store.load_map(fp, "umap", len(c.z_train), len(c.z_train), 0, [store.SHIPPED_DIR])
    assert xy.shape == (len(c.z_train), 2)


def test_a_file_is_remembered_by_its_bytes(tmp_path):
    """model_of_file finds the model a checkpoint file holds without loading it; other bytes, or a
    stored value that is not a fingerprint, find nothing."""
    path, fp = tmp_path / "a.pt", "ab" * 32
    path.write_bytes(b"weights")
    assert store.model_of_file(path, [tmp_path]) is None
    assert store.remember_file(path, fp, tmp_path) is not None
    assert store.model_of_file(path, [tmp_path]) == fp
    assert store.remember_file(path, fp, tmp_path) is None  # already noted: nothing written
    path.write_bytes(b"weights, changed")
    assert store.model_of_file(path, [tmp_path]) is None
    store.remember_file(path, "../../etc/passwd", tmp_path)
    assert store.model_of_file(path, [tmp_path]) is None
    assert store.model_of_file(tmp_path / "missing.pt", [tmp_path]) is None


@pytest.mark.slow  # takes seconds
def test_every_shipped_checkpoint_is_remembered_as_the_model_it_holds():
    for path in sorted(CHECKPOINT_DIR.glob("*.pt")):
        ck = checkpoint.load(path)
        assert store.model_of_file(path, [store.SHIPPED_DIR]) == store.fingerprint(ck.model, ck.config)


def test_labels_alone_come_from_the_stored_codes(blob_codes, tmp_path):
    store.save_codes("m", blob_codes, tmp_path)
    y_train, y_test = store.load_labels("m", [tmp_path])
    np.testing.assert_array_equal(y_train, blob_codes.y_train)
    np.testing.assert_array_equal(y_test, blob_codes.y_test)
    assert store.load_labels("other", [tmp_path]) is None


def _write_map(seed: int, directory=None):
    """One map entry of about 12 KB (random points do not compress) under its own seed."""
    xy = np.random.default_rng(seed).normal(size=(1000, 2)).astype(np.float32)
    return store.save_map("m", "tsne", 5000, 1000, seed, np.arange(1000) * 5, xy, directory)


def _set_cap(monkeypatch, n_bytes: float):
    monkeypatch.setenv("DAE_CACHE_MAX_MB", repr(n_bytes / 2**20))


def test_the_cache_folder_stays_under_its_cap_after_many_writes(monkeypatch, tmp_path):
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    size = _write_map(0).stat().st_size
    _set_cap(monkeypatch, 3.5 * size)
    for seed in range(1, 20):
        assert _write_map(seed) is not None  # the newest entry is always kept
    sizes = [p.stat().st_size for p in tmp_path.glob("*.npz")]
    assert len(sizes) == 3 and sum(sizes) <= 3.5 * size
    assert store.load_map("m", "tsne", 5000, 1000, 19) is not None


def test_the_least_recently_read_entry_is_evicted_first(monkeypatch, tmp_path):
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    paths = [_write_map(seed) for seed in range(3)]
    for age, path in enumerate(paths):
        os.utime(path, (1000 + age, 1000 + age))  # written long ago, 0 first
    assert store.load_map("m", "tsne", 5000, 1000, 0) is not None  # a read refreshes entry 0
    assert paths[0].stat().st_mtime > paths[2].stat().st_mtime
    _set_cap(monkeypatch, 3.5 * max(p.stat().st_size for p in paths))
    _write_map(3)
    assert paths[0].exists() and not paths[1].exists() and paths[2].exists()


def test_eviction_never_touches_the_shipped_folder_or_other_files(monkeypatch, tmp_path):
    shipped, cache = tmp_path / "shipped", tmp_path / "cache"
    monkeypatch.setattr(store, "SHIPPED_DIR", shipped)
    monkeypatch.setenv("DAE_CACHE_DIR", str(cache))
    _set_cap(monkeypatch, 0)  # keep nothing
    _write_map(0, shipped)  # as benchmarks/ship_cache.py writes it
    (cache / "notes.txt").parent.mkdir()
    (cache / "notes.txt").write_text("mine")
    os.utime(shipped_entry := next(shipped.glob("*.npz")), (1000, 1000))
    assert _write_map(1) is None  # over a cap of 0: not kept
    assert not list(cache.glob("*.npz")) and (cache / "notes.txt").exists()
    assert store.load_map("m", "tsne", 5000, 1000, 0) is not None  # found in the shipped folder
    assert shipped_entry.stat().st_mtime == 1000  # read, not touched
    monkeypatch.setenv("DAE_CACHE_DIR", str(shipped))  # even pointed at the shipped folder
    _write_map(2)
    assert len(list(shipped.glob("*.npz"))) == 2 and store.evict(shipped, 0) == []


@pytest.mark.slow  # takes seconds
def test_a_fitted_sampler_and_reference_statistics_round_trip_and_refuse_damage(tmp_path):
    from dae_core.analysis.latent import LatentSampler

    z = np.random.default_rng(0).standard_normal((300, 2))
    fitted = LatentSampler("gmm", n_components=4).fit(z)
    assert store.load_sampler("m", LatentSampler("gmm", n_components=4), [tmp_path]) is None
    store.save_sampler("m", fitted, tmp_path)
    again = store.load_sampler("m", LatentSampler("gmm", n_components=4), [tmp_path])
    np.testing.assert_array_equal(again.sample(10, 1), fitted.sample(10, 1))
    assert store.load_sampler("other", LatentSampler("gmm", n_components=4), [tmp_path]) is None
    store.save_reference("abc", np.zeros(3), np.eye(3), tmp_path)
    mu, sigma = store.load_reference("abc", [tmp_path])
    assert mu.shape == (3,) and sigma.shape == (3, 3)
    store.save_reference("abc", np.zeros(3), np.full((3, 3), np.inf), tmp_path)
    assert store.load_reference("abc", [tmp_path]) is None


@pytest.mark.slow  # fits each shipped model's mixture
def test_every_shipped_model_ships_its_default_sampler_as_it_would_be_fitted():
    """checkpoints/cache/ holds each shipped model's 40-component mixture (benchmarks/ship_cache.py):
    the same one a fit of its codes gives, so the Generate page shows the same digits either way."""
    from dae_core.analysis.latent import LatentSampler

    for path in sorted(CHECKPOINT_DIR.glob("*.pt")):
        ck = checkpoint.load(path)
        fp = store.fingerprint(ck.model, ck.config)
        shipped = store.load_sampler(fp, LatentSampler("gmm"), [store.SHIPPED_DIR])
        assert shipped is not None, path.name
        if path.stem == "reference-d4":
            codes = store.load_codes(fp, ck.config.latent_dim, [store.SHIPPED_DIR])
            fresh = LatentSampler("gmm").fit(codes.z_train)
            np.testing.assert_allclose(shipped.sample(9, 0), fresh.sample(9, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # takes seconds
def test_the_shipped_classifier_statistics_are_those_of_the_shipped_classifier():
    from dae_core.analysis.quality import reference_stats
    from dae_core.classifier import load_classifier

    path = CHECKPOINT_DIR / "classifiers" / "mnist-cnn.pt"
    shipped = store.load_reference(store.file_sha256(path), [store.SHIPPED_DIR])
    assert shipped is not None
    # float32 sums differ in their last bits from one CPU to another (vector width, summation
    # order): an absolute part covers the near-zero covariances, where a relative one alone fails.
    for ours, theirs in zip(shipped, reference_stats(load_classifier(path))):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
