"""dae_core.store: entries round-trip exactly; corrupt, stale or mismatched ones read as absent."""
import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from dae_core import checkpoint, store
from dae_core.pipeline import Codes, cluster_codes


@pytest.fixture
def codes():
    """Tiny codes: 300 training and 100 test points in 4-d, five blobs, labels 0..4."""
    z, y = make_blobs(400, n_features=4, centers=5, cluster_std=1.5, random_state=0)
    z = z.astype(np.float32)
    return Codes(z[:300], y[:300], z[300:], y[300:], np.arange(300) * 2, 0.1)


@pytest.fixture
def fitted(codes):
    return cluster_codes(codes, 5, "gmm", seed=1)


def _entry(tmp_path):
    (path,) = tmp_path.glob("*.npz")
    return path


def test_clustering_round_trip_gives_identical_labels_and_scores(codes, fitted, tmp_path):
    assert store.save_clustering("m", codes, fitted, tmp_path) == _entry(tmp_path)
    got = store.load_clustering("m", codes, "gmm", 5, 1, [tmp_path])
    np.testing.assert_array_equal(got.labels, fitted.labels)
    np.testing.assert_array_equal(got.test_labels, fitted.test_labels)
    for split in ("train", "test"):
        a, b = getattr(got, split), getattr(fitted, split)
        assert (a.accuracy, a.nmi, a.ari, a.mapping) == (b.accuracy, b.nmi, b.ari, b.mapping)
        np.testing.assert_array_equal(a.confusion, b.confusion)
    assert got.seconds["gmm"] == fitted.seconds["gmm"]
    assert [p.name for p in tmp_path.iterdir()] == [_entry(tmp_path).name]  # no temporary left


@pytest.mark.parametrize("other", [dict(model="m2"), dict(k=6), dict(seed=2), dict(method="kmeans")])
def test_another_key_finds_nothing(codes, fitted, tmp_path, other):
    store.save_clustering("m", codes, fitted, tmp_path)
    args = {"model": "m", "method": "gmm", "k": 5, "seed": 1} | other
    assert store.load_clustering(codes=codes, directories=[tmp_path], **args) is None


def test_a_stale_format_is_ignored(codes, fitted, tmp_path, monkeypatch):
    store.save_clustering("m", codes, fitted, tmp_path)
    monkeypatch.setattr(store, "FORMAT", store.FORMAT + 1)
    assert store.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]) is None


def test_a_file_under_another_entrys_name_is_ignored(codes, fitted, tmp_path):
    """The key inside the file must match: a copied or renamed entry is never used."""
    store.save_clustering("m", codes, fitted, tmp_path / "a")
    store.save_clustering("other", codes, fitted, tmp_path / "b")
    _entry(tmp_path / "b").write_bytes(_entry(tmp_path / "a").read_bytes())
    assert store.load_clustering("other", codes, "gmm", 5, 1, [tmp_path / "b"]) is None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_entry_reads_as_absent(codes, fitted, tmp_path, damage):
    store.save_clustering("m", codes, fitted, tmp_path)
    path = _entry(tmp_path)
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not a zip file" * 50, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    assert store.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]) is None


def test_labels_or_scores_that_do_not_fit_the_codes_are_refused(codes, fitted, tmp_path):
    store.save_clustering("m", codes, fitted, tmp_path)
    key = store.entry_key("clustering", "m", method="gmm", k=5, seed=1, umap_neighbors=15,
                          n_train=300, n_test=100)
    good = store.load(key, [tmp_path])
    assert good is not None and store.load_clustering("m", codes, "gmm", 5, 1, [tmp_path])
    confusion = good["train_confusion"].copy()
    confusion[0, 0] += 1
    bad = [{"labels": good["labels"][:299]},  # one short
           {"labels": np.full(300, 7, np.uint8)},  # cluster 7 of k=5
           {"labels": good["labels"].astype(np.float32)},  # not integers
           {"labels": np.roll(good["labels"], 1)},  # not the labels the scores were made of
           {"seconds": np.array([np.nan] * len(good["seconds"]))},
           {"test_labels": np.zeros(99, np.uint8)},
           {"train_scores": good["train_scores"] + [0.01, 0, 0]},  # an accuracy the labels deny
           {"test_scores": np.array([1.0, 2.0, 0.5])},  # NMI above 1
           {"train_confusion": confusion}]
    for change in bad:
        store.save(key, good | change, tmp_path)
        assert store.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]) is None, change
    store.save(key, {n: a for n, a in good.items() if not n.startswith("test_")}, tmp_path)
    assert store.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]).test is None  # train only


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
    assert store.umap_map("m", 3, directories=[tmp_path])[1].shape == (3, 2)


def test_codes_round_trip_and_refuse_another_latent_size(codes, tmp_path):
    store.save_codes("m", codes, tmp_path)
    got = store.load_codes("m", 4, [tmp_path])
    for name in ("z_train", "y_train", "z_test", "y_test", "train_index"):
        np.testing.assert_array_equal(getattr(got, name), getattr(codes, name))
    assert store.load_codes("m", 5, [tmp_path]) is None


def test_an_unwritable_folder_stores_nothing_and_raises_nothing(codes, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert store.save_codes("m", codes, blocker / "sub") is None


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    assert store.cache_dir() == tmp_path
    monkeypatch.delenv("DAE_CACHE_DIR")
    assert store.cache_dir() == store.DEFAULT_DIR


def test_fingerprint_follows_the_weights_and_config(ckpt_path):
    ck = checkpoint.load(ckpt_path)
    fp = store.fingerprint(ck.model, ck.config)
    assert fp == store.fingerprint(checkpoint.load(ckpt_path).model, ck.config)
    from dataclasses import replace

    assert store.fingerprint(ck.model, replace(ck.config, seed=ck.config.seed + 1)) != fp
    with torch.no_grad():
        next(ck.model.parameters())[0].flatten()[0] += 1e-3
    assert store.fingerprint(ck.model, ck.config) != fp


def test_the_shipped_entry_fits_the_shipped_model():
    """checkpoints/cache/ holds UMAP + GMM for cluster-d10-refined (benchmarks/ship_cache.py)."""
    from dae_core.pipeline import encode_splits

    ck = checkpoint.load(checkpoint.CHECKPOINT_DIR / "cluster-d10-refined.pt")
    c = encode_splits(ck.model, ck.config)
    fp = store.fingerprint(ck.model, ck.config)
    result = store.load_clustering(fp, c, "umap-gmm", 10, 0, [store.SHIPPED_DIR])
    assert result is not None and result.train.accuracy > 0.9 and result.test.accuracy > 0.9
    idx, xy = store.umap_map(fp, len(c.z_train), directories=[store.SHIPPED_DIR])
    assert xy.shape == (len(c.z_train), 2)
