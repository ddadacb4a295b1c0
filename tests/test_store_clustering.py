"""The clustering kind of the result cache (dae_core.analysis.pipeline.CLUSTERING): clusterings
round-trip exactly; corrupt, stale or mismatched entries, or ones that do not fit the model's
stored codes, read as absent."""
import numpy as np
import pytest

from dae_core import store
from dae_core.analysis.pipeline import CLUSTERING, CODES, cluster_codes, clustering_params
from dae_core.store import disk


@pytest.fixture(autouse=True)
def fresh_memory():
    store.forget()
    yield
    store.forget()


@pytest.fixture
def codes(blob_codes):
    store.put(CODES, "m", {}, blob_codes)  # the clustering is checked against the stored codes
    store.forget()
    return blob_codes


@pytest.fixture
def fitted(codes):
    return cluster_codes(codes, 5, "gmm", seed=1)


def params(codes, method="gmm", k=5, seed=1):
    return clustering_params(codes, method, k, seed)


def _entry(folder):
    (path,) = folder.glob("clustering-*.npz")
    return path


def test_clustering_round_trip_gives_identical_labels_and_scores(codes, fitted, tmp_path):
    assert store.put(CLUSTERING, "m", params(codes), fitted, tmp_path) == _entry(tmp_path)
    got = store.get(CLUSTERING, "m", params(codes), [tmp_path])
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
    store.put(CLUSTERING, "m", params(codes), fitted, tmp_path)
    asked = {"model": "m", "method": "gmm", "k": 5, "seed": 1} | other
    model = asked.pop("model")
    assert store.get(CLUSTERING, model, params(codes, **asked), [tmp_path]) is None


def test_a_stale_format_is_ignored(codes, fitted, tmp_path, monkeypatch):
    store.put(CLUSTERING, "m", params(codes), fitted, tmp_path)
    monkeypatch.setattr(store, "FORMAT", store.FORMAT + 1)
    assert store.get(CLUSTERING, "m", params(codes), [tmp_path]) is None


def test_without_the_models_stored_codes_a_clustering_is_not_trusted(codes, fitted, tmp_path):
    store.put(CLUSTERING, "m", params(codes), fitted, tmp_path)
    for entry in store.cache_dir().glob("codes-*.npz"):
        entry.unlink()
    assert store.get(CLUSTERING, "m", params(codes), [tmp_path]) is None


def test_a_file_under_another_entrys_name_is_ignored(codes, fitted, tmp_path):
    """The key inside the file must match: a copied or renamed entry is never used."""
    store.put(CLUSTERING, "m", params(codes), fitted, tmp_path / "a")
    store.put(CLUSTERING, "other", params(codes), fitted, tmp_path / "b")
    _entry(tmp_path / "b").write_bytes(_entry(tmp_path / "a").read_bytes())
    assert store.get(CLUSTERING, "other", params(codes), [tmp_path / "b"]) is None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_entry_reads_as_absent(codes, fitted, tmp_path, damage):
    store.put(CLUSTERING, "m", params(codes), fitted, tmp_path)
    path = _entry(tmp_path)
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not a zip file" * 50, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    assert store.get(CLUSTERING, "m", params(codes), [tmp_path]) is None


def test_labels_or_scores_that_do_not_fit_the_codes_are_refused(codes, fitted, tmp_path):
    store.put(CLUSTERING, "m", params(codes), fitted, tmp_path)
    key = store.key(CLUSTERING, "m", params(codes))
    good = disk.load(key, [tmp_path])
    assert good is not None and store.get(CLUSTERING, "m", params(codes), [tmp_path])
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
           {"train_mapping": good["train_mapping"].astype(np.float64)},
           {"train_confusion": confusion}]
    for change in bad:
        disk.save(key, good | change, tmp_path)
        assert store.get(CLUSTERING, "m", params(codes), [tmp_path]) is None, change
    disk.save(key, {n: a for n, a in good.items() if not n.startswith("test_")}, tmp_path)
    assert store.get(CLUSTERING, "m", params(codes), [tmp_path]).test is None  # train only


def test_an_entry_whose_test_codes_were_matched_again_is_rescored_from_its_labels(codes, fitted,
                                                                                   tmp_path):
    """Older entries matched the test codes' clusters to digits on the test labels: their test
    accuracy is recomputed with the training codes' mapping, from the stored labels alone."""
    from dae_core.analysis.cluster import score
    from dae_core.analysis.pipeline import result_from_labels

    shifted = (fitted.test_labels + 1) % 5  # the test codes' best matching is no longer the training one
    honest = result_from_labels(codes, "gmm", 5, 1, fitted.labels, shifted, {})
    rematched = score(codes.y_test, shifted)
    assert honest.test.accuracy < rematched.accuracy
    store.put(CLUSTERING, "m", params(codes), honest, tmp_path)
    key = store.key(CLUSTERING, "m", params(codes))
    old = disk.load(key, [tmp_path]) | {
        "test_scores": np.array([rematched.accuracy, rematched.nmi, rematched.ari]),
        "test_mapping": np.array([rematched.mapping[c] for c in rematched.clusters.tolist()])}
    disk.save(key, old, tmp_path)
    got = store.get(CLUSTERING, "m", params(codes), [tmp_path])
    assert got.test.accuracy == pytest.approx(honest.test.accuracy)
    assert got.test.mapping == honest.test.mapping and got.test.nmi == honest.test.nmi
