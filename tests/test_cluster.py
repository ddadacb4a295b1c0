"""Hungarian matching, scores against sklearn, and clustering of well-separated blobs."""
import itertools

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

import dae_core.analysis.cluster as cluster_mod
from dae_core.analysis.cluster import cluster, match_clusters, score
from dae_core.errors import DaeError


def test_permuted_labelling_scores_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    perm = rng.permutation(10)
    assert score(y, perm[y]).accuracy == 1.0
    assert match_clusters(y, perm[y]) == {int(perm[i]): i for i in range(10)}


def _brute_force(y_true, y_pred, n):
    return max(np.mean(np.array(p)[y_pred] == y_true) for p in itertools.permutations(range(n)))


@pytest.mark.parametrize("seed", range(5))
def test_equals_brute_force_over_all_permutations(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, 40)
    y_pred = np.where(rng.random(40) < 0.5, y_true, rng.integers(0, 4, 40))  # partly agreeing
    assert score(y_true, y_pred).accuracy == pytest.approx(_brute_force(y_true, y_pred, 4))


def test_score_matches_sklearn_and_counts_every_point():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 5, 300)
    y_pred = np.where(rng.random(300) < 0.7, (y_true + 2) % 5, rng.integers(0, 5, 300))
    report = score(y_true, y_pred)
    assert report.nmi == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
    assert report.ari == pytest.approx(adjusted_rand_score(y_true, y_pred))
    assert report.accuracy == pytest.approx(_brute_force(y_true, y_pred, 5))
    assert report.confusion.shape == (5, 5) and report.confusion.sum() == 300
    # rows are true labels, columns clusters
    assert report.confusion[3, 0] == np.sum((y_true == 3) & (y_pred == 0))
    reordered, clusters = report.reordered()
    assert np.trace(reordered) == round(report.accuracy * 300)
    d = report.to_dict()
    assert d["confusion"] == report.confusion.tolist() and set(d["mapping"]) == {"0", "1", "2", "3", "4"}


def test_a_given_mapping_scores_held_out_points_without_matching_again():
    """Test points keep the mapping learned on the training points: where their own best matching
    differs, they score lower than matching again on their labels would."""
    y_train, pred_train = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 0, 1, 1, 1])
    y_test, pred_test = np.array([0, 0, 0, 1, 1, 1]), np.array([1, 1, 1, 0, 0, 1])
    trained = score(y_train, pred_train).mapping
    assert trained == {0: 0, 1: 1}
    report = score(y_test, pred_test, trained)
    assert report.accuracy == pytest.approx(1 / 6) and report.mapping == {0: 0, 1: 1}
    assert score(y_test, pred_test).accuracy == pytest.approx(5 / 6)  # matched again: {0: 1, 1: 0}
    assert report.nmi == score(y_test, pred_test).nmi  # NMI and ARI need no mapping
    # a cluster no training point fell in has no digit: its points count as wrong
    unseen = score(y_test, np.array([0, 0, 0, 1, 1, 2]), trained)
    assert unseen.accuracy == pytest.approx(5 / 6) and unseen.mapping[2] == -1
    assert unseen.reordered()[0].shape == (2, 3)


def test_more_clusters_than_labels_maps_every_cluster():
    y_true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 5, 1, 1, 3, 2, 2, 4, 4])
    mapping = match_clusters(y_true, y_pred)
    assert set(mapping) == {0, 1, 2, 3, 4, 5}
    assert set(mapping.values()) <= {0, 1, 2}
    assert mapping[4] == 2 and mapping[0] == 0 and mapping[1] == 1
    report = score(y_true, y_pred)
    assert report.confusion.shape == (3, 6)
    assert 0 < report.accuracy <= 1


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(400, n_features=4, centers=5, cluster_std=0.4, center_box=(-20, 20),
                      random_state=3)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_finds_separated_blobs_deterministically(blobs, method):
    z, y = blobs
    a = cluster(z, 5, method, seed=0)
    assert a.labels.shape == (400,)
    assert score(y, a.labels).accuracy == 1.0
    assert np.array_equal(cluster(z, 5, method, seed=0).labels, a.labels)
    assert np.array_equal(a.predict(z[:50]), a.labels[:50])
    assert method in a.seconds


@pytest.mark.parametrize("k", [1, 0, 401])
def test_bad_k_is_refused(blobs, k):
    with pytest.raises(DaeError, match="k must be"):
        cluster(blobs[0], k)


def test_unknown_method_is_refused(blobs):
    with pytest.raises(DaeError, match="dbscan"):
        cluster(blobs[0], 5, "dbscan")


class _FakeUmap:
    """Stands in for umap.UMAP: a fixed linear map, so the wiring is tested without numba's JIT."""

    def __init__(self, z):
        self.embedding_ = self.transform(z)

    def transform(self, z):
        return np.asarray(z)[:, :2] * 10.0


def test_umap_methods_cluster_the_embedding(blobs, monkeypatch):
    z, y = blobs
    calls = []

    def fake(z, k, seed, n_neighbors):
        calls.append((len(z), k, seed, n_neighbors))
        return _FakeUmap(z)

    monkeypatch.setattr(cluster_mod, "_fit_umap", fake)
    result = cluster(z, 5, "umap-kmeans", seed=2, umap_neighbors=7)
    assert calls == [(400, 5, 2, 7)]
    assert set(result.seconds) == {"umap", "kmeans"}
    assert np.array_equal(result.predict(z), result.labels)


@pytest.mark.slow  # UMAP compiles its numba code first
def test_real_umap_on_a_few_hundred_points(blobs):
    pytest.importorskip("umap")
    z, y = blobs
    result = cluster(z[:300], 5, "umap-gmm", seed=0, umap_neighbors=10)
    assert score(y[:300], result.labels).accuracy == 1.0


def test_stages_are_reported_in_order_and_a_stop_ends_the_work_between_them(blobs, monkeypatch):
    import threading

    from dae_core.analysis.cluster import STEPS, Cancelled

    z, _ = blobs
    stop, stages = threading.Event(), []

    def fake(z, k, seed, n_neighbors):
        if not stages[1:]:  # the first run: Cancel pressed while UMAP ran, no mixture may follow
            stop.set()
        return _FakeUmap(z)

    monkeypatch.setattr(cluster_mod, "_fit_umap", fake)
    with pytest.raises(Cancelled):
        cluster(z, 5, "umap-gmm", seed=0, stage=stages.append, stop=stop)
    assert stages == ["umap"]
    stop.clear()
    stages.append("again")
    cluster(z, 5, "umap-gmm", seed=0, stage=stages.append, stop=stop)
    assert stages == ["umap", "again", "umap", "gmm"] and set(stages) - {"again"} <= set(STEPS)
    stop.set()
    with pytest.raises(Cancelled):
        cluster(z, 5, "kmeans", stop=stop)  # set before the start: nothing runs


def test_cluster_codes_keeps_the_test_labels_and_stops_before_placing_the_test_codes(blobs):
    import threading

    from dae_core.analysis.cluster import Cancelled
    from dae_core.analysis.pipeline import Codes, cluster_codes

    z, y = blobs
    codes = Codes(z[:300], y[:300], z[300:], y[300:], np.arange(300), 0.0)
    result = cluster_codes(codes, 5, "kmeans", seed=0)
    assert result.test_labels.shape == (100,) and result.test.accuracy == 1.0
    assert result.test.mapping == {c: result.train.mapping[c] for c in result.test.clusters.tolist()}
    stop = threading.Event()
    with pytest.raises(Cancelled):
        cluster_codes(codes, 5, "kmeans", stage=lambda step: step == "kmeans" and stop.set(), stop=stop)
