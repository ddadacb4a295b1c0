"""dae_core.clustering_store: clusterings round-trip exactly; corrupt, stale or mismatched entries
read as absent; their scores alone are read without the codes' vectors, checked the same way."""
import numpy as np
import pytest

from dae_core import clustering_store as cs
from dae_core import store
from dae_core.analysis.pipeline import cluster_codes


@pytest.fixture
def codes(blob_codes):
    return blob_codes


@pytest.fixture
def fitted(codes):
    return cluster_codes(codes, 5, "gmm", seed=1)


def _entry(tmp_path):
    (path,) = tmp_path.glob("*.npz")
    return path


def test_clustering_round_trip_gives_identical_labels_and_scores(codes, fitted, tmp_path):
    assert cs.save_clustering("m", codes, fitted, tmp_path) == _entry(tmp_path)
    got = cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path])
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
    cs.save_clustering("m", codes, fitted, tmp_path)
    args = {"model": "m", "method": "gmm", "k": 5, "seed": 1} | other
    assert cs.load_clustering(codes=codes, directories=[tmp_path], **args) is None


def test_a_stale_format_is_ignored(codes, fitted, tmp_path, monkeypatch):
    cs.save_clustering("m", codes, fitted, tmp_path)
    monkeypatch.setattr(store, "FORMAT", store.FORMAT + 1)
    assert cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]) is None


def test_a_file_under_another_entrys_name_is_ignored(codes, fitted, tmp_path):
    """The key inside the file must match: a copied or renamed entry is never used."""
    cs.save_clustering("m", codes, fitted, tmp_path / "a")
    cs.save_clustering("other", codes, fitted, tmp_path / "b")
    _entry(tmp_path / "b").write_bytes(_entry(tmp_path / "a").read_bytes())
    assert cs.load_clustering("other", codes, "gmm", 5, 1, [tmp_path / "b"]) is None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_entry_reads_as_absent(codes, fitted, tmp_path, damage):
    cs.save_clustering("m", codes, fitted, tmp_path)
    path = _entry(tmp_path)
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not a zip file" * 50, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    assert cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]) is None


def test_labels_or_scores_that_do_not_fit_the_codes_are_refused(codes, fitted, tmp_path):
    cs.save_clustering("m", codes, fitted, tmp_path)
    key = store.entry_key("clustering", "m", method="gmm", k=5, seed=1, umap_neighbors=15,
                          n_train=300, n_test=100)
    good = store.load(key, [tmp_path])
    assert good is not None and cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path])
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
        assert cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]) is None, change
    store.save(key, {n: a for n, a in good.items() if not n.startswith("test_")}, tmp_path)
    assert cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]).test is None  # train only


def test_stored_scores_are_the_entrys_scores_read_from_labels_alone(codes, fitted, tmp_path):
    """stored_scores needs the codes' labels on disk, and gives what load_clustering gives."""
    cs.save_clustering("m", codes, fitted, tmp_path)
    assert cs.stored_scores("m", "gmm", 5, 1, [tmp_path]) is None  # no stored codes
    store.save_codes("m", codes, tmp_path)
    train, test = cs.stored_scores("m", "gmm", 5, 1, [tmp_path])
    assert train == (fitted.train.accuracy, fitted.train.nmi, fitted.train.ari)
    assert test == (fitted.test.accuracy, fitted.test.nmi, fitted.test.ari)
    assert cs.stored_scores("m", "gmm", 5, 2, [tmp_path]) is None  # another seed


def test_stored_scores_refuse_what_load_clustering_refuses(codes, fitted, tmp_path):
    cs.save_clustering("m", codes, fitted, tmp_path)
    store.save_codes("m", codes, tmp_path)
    key = store.entry_key("clustering", "m", method="gmm", k=5, seed=1, umap_neighbors=15,
                          n_train=300, n_test=100)
    good = store.load(key, [tmp_path])
    for change in ({"labels": np.roll(good["labels"], 1)},  # not the labels the scores were made of
                   {"labels": np.full(300, 7, np.uint8)},  # cluster 7 of k=5
                   {"test_labels": np.zeros(99, np.uint8)},
                   {"train_scores": good["train_scores"] + [0.01, 0, 0]},
                   {"test_scores": np.array([1.0, 2.0, 0.5])},
                   {"train_mapping": good["train_mapping"].astype(np.float64)}):
        store.save(key, good | change, tmp_path)
        assert cs.stored_scores("m", "gmm", 5, 1, [tmp_path]) is None, change
        assert cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path]) is None, change


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
    cs.save_clustering("m", codes, honest, tmp_path)
    store.save_codes("m", codes, tmp_path)
    key = store.entry_key("clustering", "m", method="gmm", k=5, seed=1, umap_neighbors=15,
                          n_train=300, n_test=100)
    old = store.load(key, [tmp_path]) | {
        "test_scores": np.array([rematched.accuracy, rematched.nmi, rematched.ari]),
        "test_mapping": np.array([rematched.mapping[c] for c in rematched.clusters.tolist()])}
    store.save(key, old, tmp_path)
    got = cs.load_clustering("m", codes, "gmm", 5, 1, [tmp_path])
    assert got.test.accuracy == pytest.approx(honest.test.accuracy)
    assert got.test.mapping == honest.test.mapping and got.test.nmi == honest.test.nmi
    _, test = cs.stored_scores("m", "gmm", 5, 1, [tmp_path])
    assert test.accuracy == pytest.approx(honest.test.accuracy)
