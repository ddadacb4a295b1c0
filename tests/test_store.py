"""dae_core.store: one result cache over memory, the cache folder and the shipped folder. Entries
round-trip exactly; corrupt, stale or mismatched ones read as absent and are recomputed."""
import os
import threading

import numpy as np
import pytest
import torch

from dae_core import checkpoint, store
from dae_core.analysis.embed import MAP, map_params
from dae_core.analysis.latent import SAMPLER, LatentSampler, class_dims_of, sampler_params
from dae_core.analysis.pipeline import CLUSTERING, CODES, clustering_params
from dae_core.analysis.quality import REFERENCE
from dae_core.paths import CHECKPOINT_DIR, ROOT
from dae_core.store import disk


@pytest.fixture(autouse=True)
def fresh_memory():
    store.forget()
    yield
    store.forget()


def test_maps_round_trip_and_refuse_non_finite_points(tmp_path):
    idx, xy = np.array([1, 4, 7]), np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    store.put(MAP, "m", map_params("tsne", 10, 3, 0), (idx, xy), tmp_path)
    got_idx, got_xy = store.get(MAP, "m", map_params("tsne", 10, 3, 0), [tmp_path])
    np.testing.assert_array_equal(got_idx, idx)
    np.testing.assert_array_equal(got_xy, xy)
    assert store.get(MAP, "m", map_params("tsne", 11, 3, 0), [tmp_path]) is None  # codes of another length
    xy[1, 0] = np.inf
    store.put(MAP, "m", map_params("tsne", 10, 3, 0), (idx, xy), tmp_path)
    assert store.get(MAP, "m", map_params("tsne", 10, 3, 0), [tmp_path]) is None
    store.put(MAP, "m", map_params("umap", 3, None, 0), (range(3), np.zeros((3, 2))), tmp_path)
    assert store.get(MAP, "m", map_params("umap", 3, None, 0), [tmp_path])[1].shape == (3, 2)


def test_codes_round_trip_and_refuse_inconsistent_shapes(blob_codes, tmp_path):
    store.put(CODES, "m", {}, blob_codes, tmp_path)
    got = store.get(CODES, "m", {}, [tmp_path])
    for name in ("z_train", "y_train", "z_test", "y_test", "train_index"):
        np.testing.assert_array_equal(getattr(got, name), getattr(blob_codes, name))
    assert got.seconds == 0.0  # read, not encoded
    key = store.key(CODES, "m")
    disk.save(key, disk.load(key, [tmp_path]) | {"z_test": np.zeros((100, 5), np.float32)}, tmp_path)
    assert store.get(CODES, "m", {}, [tmp_path]) is None


def test_an_unwritable_folder_stores_nothing_and_raises_nothing(blob_codes, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert store.put(CODES, "m", {}, blob_codes, blocker / "sub") is None


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


def test_get_or_compute_computes_once_then_reads_memory_then_disk(blob_codes):
    calls = []
    compute = lambda: calls.append(1) or blob_codes  # noqa: E731
    assert store.get_or_compute(CODES, "m", {}, compute) is blob_codes
    assert store.get_or_compute(CODES, "m", {}, compute) is blob_codes  # memory: the same object
    store.forget()
    again = store.get_or_compute(CODES, "m", {}, compute)  # the cache folder
    assert calls == [1] and again is not blob_codes
    np.testing.assert_array_equal(again.z_train, blob_codes.z_train)
    assert store.get_or_compute(CODES, "other", {}, compute) is blob_codes and calls == [1, 1]


def test_a_damaged_entry_is_computed_again(blob_codes):
    store.put(CODES, "m", {}, blob_codes)
    store.forget()
    (entry,) = store.cache_dir().glob("codes-*.npz")
    entry.write_bytes(b"not a zip file")
    calls = []
    store.get_or_compute(CODES, "m", {}, lambda: calls.append(1) or blob_codes)
    assert calls == [1] and store.get(CODES, "m") is blob_codes


def test_threads_asking_for_one_key_compute_it_once(blob_codes):
    started, release, calls = threading.Event(), threading.Event(), []

    def slow():
        calls.append(1)
        started.set()
        release.wait(10)
        return blob_codes

    found = []
    threads = [threading.Thread(target=lambda: found.append(store.get_or_compute(CODES, "m", {}, slow)))
               for _ in range(4)]
    for t in threads:
        t.start()
    assert started.wait(10)
    release.set()
    for t in threads:
        t.join(10)
    assert calls == [1] and len(found) == 4 and all(f is blob_codes for f in found)
    assert store._computing == {}  # nothing left behind per key


def test_memory_keeps_to_its_megabytes(monkeypatch):
    """Every model's results share one LRU of $DAE_MEMORY_CACHE_MB in the process."""
    monkeypatch.setenv("DAE_MEMORY_CACHE_MB", str(3 / 1024))  # 3 KiB
    store.forget()
    points = lambda seed: (np.arange(64), np.full((64, 2), seed, np.float32))  # noqa: E731  1 KiB
    for model in ("a", "b", "c"):
        store.put(MAP, model, map_params("tsne", 100, 64, 0), points(0))
    assert store.get(MAP, "a", map_params("tsne", 100, 64, 0)) is not None  # read: now the newest
    store.put(MAP, "d", map_params("tsne", 100, 64, 0), points(1))
    assert store.memory().bytes <= 3 * 1024 and len(store.memory()) == 3
    store.memory().pop(disk.file_name(store.key(MAP, "a", map_params("tsne", 100, 64, 0))))
    assert store.memory().get(disk.file_name(store.key(MAP, "b", map_params("tsne", 100, 64, 0)))) is None


def _put_map(seed: int, directory=None):
    """One map entry of about 12 KB (random points do not compress) under its own seed."""
    xy = np.random.default_rng(seed).normal(size=(1000, 2)).astype(np.float32)
    return store.put(MAP, "m", map_params("tsne", 5000, 1000, seed), (np.arange(1000) * 5, xy), directory)


def _set_cap(monkeypatch, n_bytes: float):
    monkeypatch.setenv("DAE_CACHE_MAX_MB", repr(n_bytes / 2**20))


def test_the_cache_folder_stays_under_its_cap_after_many_writes(monkeypatch, tmp_path):
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    size = _put_map(0).stat().st_size
    _set_cap(monkeypatch, 3.5 * size)
    for seed in range(1, 20):
        assert _put_map(seed) is not None  # the newest entry is always kept
    sizes = [p.stat().st_size for p in tmp_path.glob("*.npz")]
    assert len(sizes) == 3 and sum(sizes) <= 3.5 * size
    store.forget()
    assert store.get(MAP, "m", map_params("tsne", 5000, 1000, 19)) is not None


def test_the_least_recently_read_entry_is_evicted_first(monkeypatch, tmp_path):
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    paths = [_put_map(seed) for seed in range(3)]
    store.forget()
    for age, path in enumerate(paths):
        os.utime(path, (1000 + age, 1000 + age))  # written long ago, 0 first
    assert store.get(MAP, "m", map_params("tsne", 5000, 1000, 0)) is not None  # a read refreshes entry 0
    assert paths[0].stat().st_mtime > paths[2].stat().st_mtime
    _set_cap(monkeypatch, 3.5 * max(p.stat().st_size for p in paths))
    _put_map(3)
    assert paths[0].exists() and not paths[1].exists() and paths[2].exists()


def test_eviction_never_touches_the_shipped_folder_or_other_files(monkeypatch, tmp_path):
    shipped, cache = tmp_path / "shipped", tmp_path / "cache"
    monkeypatch.setattr(disk, "SHIPPED_DIR", shipped)
    monkeypatch.setenv("DAE_CACHE_DIR", str(cache))
    _set_cap(monkeypatch, 0)  # keep nothing
    _put_map(0, shipped)  # as benchmarks/ship_cache.py writes it
    (cache / "notes.txt").parent.mkdir()
    (cache / "notes.txt").write_text("mine")
    os.utime(shipped_entry := next(shipped.glob("*.npz")), (1000, 1000))
    assert _put_map(1) is None  # over a cap of 0: not kept on disk
    assert not list(cache.glob("*.npz")) and (cache / "notes.txt").exists()
    store.forget()
    assert store.get(MAP, "m", map_params("tsne", 5000, 1000, 0)) is not None  # found in the shipped folder
    assert shipped_entry.stat().st_mtime == 1000  # read, not touched
    monkeypatch.setenv("DAE_CACHE_DIR", str(shipped))  # even pointed at the shipped folder
    _put_map(2)
    assert len(list(shipped.glob("*.npz"))) == 2 and store.evict(shipped, 0) == []


@pytest.mark.slow  # takes seconds
def test_a_fitted_sampler_and_reference_statistics_round_trip_and_refuse_damage(tmp_path):
    z = np.random.default_rng(0).standard_normal((300, 2))
    fitted = LatentSampler("gmm", n_components=4).fit(z)
    params = sampler_params(fitted)
    assert store.get(SAMPLER, "m", params, [tmp_path]) is None
    store.put(SAMPLER, "m", params, fitted, tmp_path)
    again = store.get(SAMPLER, "m", params, [tmp_path])
    np.testing.assert_array_equal(again.sample(10, 1), fitted.sample(10, 1))
    assert store.get(SAMPLER, "other", params, [tmp_path]) is None
    store.put(REFERENCE, None, {"classifier": "abc"}, (np.zeros(3), np.eye(3)), tmp_path)
    mu, sigma = store.get(REFERENCE, None, {"classifier": "abc"}, [tmp_path])
    assert mu.shape == (3,) and sigma.shape == (3, 3)
    store.put(REFERENCE, None, {"classifier": "abc"}, (np.zeros(3), np.full((3, 3), np.inf)), tmp_path)
    assert store.get(REFERENCE, None, {"classifier": "abc"}, [tmp_path]) is None


@pytest.mark.slow  # takes seconds
def test_the_shipped_entries_fit_the_shipped_model():
    """checkpoints/cache/ holds UMAP + GMM and the UMAP map for cluster-d10-refined
    (benchmarks/ship_cache.py)."""
    from dae_core.analysis.pipeline import encode_splits

    ck = checkpoint.load(CHECKPOINT_DIR / "cluster-d10-refined.pt")
    c = encode_splits(ck.model, ck.config)
    fp = store.fingerprint(ck.model, ck.config)
    shipped = [disk.SHIPPED_DIR]
    np.testing.assert_allclose(store.get(CODES, fp, {}, shipped).z_train, c.z_train, rtol=1e-4, atol=1e-4)
    result = store.get(CLUSTERING, fp, clustering_params(c, "umap-gmm", 10, 0), shipped)
    assert result is not None and result.train.accuracy > 0.9 and result.test.accuracy > 0.9
    idx, xy = store.get(MAP, fp, map_params("umap", len(c.z_train), None, 0), shipped)
    assert xy.shape == (len(c.z_train), 2)


@pytest.mark.slow  # fits each shipped model's mixture
def test_every_shipped_model_ships_its_default_sampler_as_it_would_be_fitted():
    """checkpoints/cache/ holds each shipped model's default sampler (benchmarks/ship_cache.py; a
    split model's has one Gaussian per class of its digit part): the same one a fit of its codes
    gives, so the Generate page shows the same digits either way."""
    for path in sorted(CHECKPOINT_DIR.glob("*.pt")):
        ck = checkpoint.load(path)
        fp, class_dims = store.fingerprint(ck.model, ck.config), class_dims_of(ck.model)
        default = LatentSampler("gmm", class_dims=class_dims)
        shipped = store.get(SAMPLER, fp, sampler_params(default), [disk.SHIPPED_DIR])
        assert shipped is not None, path.name
        if path.stem in ("reference-d4", "split-d22"):
            codes = store.get(CODES, fp, {}, [disk.SHIPPED_DIR])
            fresh = LatentSampler("gmm", class_dims=class_dims).fit(codes.z_train)
            np.testing.assert_allclose(shipped.sample(9, 0), fresh.sample(9, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # takes seconds
def test_the_shipped_classifier_statistics_are_those_of_the_shipped_classifier():
    from dae_core.analysis.quality import CLASSIFIER, reference_stats
    from dae_core.classifier import load_classifier

    shipped = store.get(REFERENCE, None, {"classifier": store.file_sha256(CLASSIFIER)}, [disk.SHIPPED_DIR])
    assert shipped is not None
    # float32 sums differ in their last bits from one CPU to another (vector width, summation
    # order): an absolute part covers the near-zero covariances, where a relative one alone fails.
    for ours, theirs in zip(shipped, reference_stats(load_classifier(CLASSIFIER))):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
