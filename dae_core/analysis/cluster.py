"""Clustering of codes, the pseudo-labels a clustering is sure of, Hungarian matching of clusters
to labels, and the scores, sklearn-style."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from dae_core.errors import DaeError

# scipy, scikit-learn and threadpoolctl are imported where they are used: the tables and a cached
# clustering (dae_core.store) need only NumPy and scikit-learn's metrics.

METHODS = ("kmeans", "gmm", "umap-kmeans", "umap-gmm")
STEPS = {"umap": "embedding the codes with UMAP", "kmeans": "fitting k-means",
         "gmm": "fitting the Gaussian mixture"}  # what each step of cluster() does, for progress


class Cancelled(DaeError):
    """Long work stopped between two steps because its stop flag was set."""


def check_stop(stop) -> None:
    """Raise Cancelled when `stop` (anything with is_set(), e.g. a threading.Event) is set."""
    if stop is not None and stop.is_set():
        raise Cancelled("stopped")


@dataclass
class Clustering:
    """A fitted clustering: labels of the fitted points, and a predict() for new ones."""

    labels: np.ndarray  # (N,) int cluster index per point
    predict: object  # callable: (M, d) codes -> (M,) labels
    seconds: dict = field(default_factory=dict)  # seconds per step, e.g. {"umap": .., "kmeans": ..}
    confidence: np.ndarray | None = None  # (N,) in [0, 1]: GMM posterior, or k-means distance margin


def _estimator(kind: str, k: int, seed: int):
    if kind == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=10, random_state=seed)
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(n_components=k, covariance_type="full", n_init=2, random_state=seed)


def cluster(z: np.ndarray, k: int = 10, method: str = "kmeans", seed: int = 0,
            umap_neighbors: int = 15, progress=None, stage=None, stop=None) -> Clustering:
    """Cluster codes (N, d) into k groups with kmeans | gmm | umap-kmeans | umap-gmm.

    progress(step, seconds) follows each finished step, stage(step) precedes each one (see
    STEPS); a set `stop` raises Cancelled between steps (UMAP itself cannot be interrupted).
    """
    if method not in METHODS:
        raise DaeError(f"unknown clustering method {method!r}; choose from {', '.join(METHODS)}")
    if not 2 <= k <= len(z):
        raise DaeError(f"k must be between 2 and the number of points ({len(z)}), got {k}")
    from threadpoolctl import threadpool_limits

    z = np.asarray(z, dtype=np.float32)
    seconds, reducer = {}, None
    if method.startswith("umap"):
        _begin("umap", stage, stop)
        t = time.perf_counter()
        reducer = _fit_umap(z, k, seed, umap_neighbors)
        fit_z = reducer.embedding_
        seconds["umap"] = time.perf_counter() - t
        if progress:
            progress("umap", seconds["umap"])
    else:
        fit_z = z
    kind = method.split("-")[-1]
    _begin(kind, stage, stop)
    t = time.perf_counter()
    # On low-dimensional codes the per-iteration work is tiny, so extra OpenMP threads only wait
    # on each other: one thread is faster (docs/speed.md, "Settings chosen by a measurement").
    # OpenMP's thread count is the calling thread's own, so this is safe while other sessions'
    # threads run; BLAS limits would be process-wide (a Ray worker sets those once).
    with threadpool_limits(1, user_api="openmp"):
        est = _estimator(kind, k, seed).fit(fit_z)
        labels = est.predict(fit_z)
    seconds[kind] = time.perf_counter() - t

    def predict(new_z: np.ndarray) -> np.ndarray:
        new_z = np.asarray(new_z, dtype=np.float32)
        return est.predict(reducer.transform(new_z) if reducer is not None else new_z)

    return Clustering(np.asarray(labels), predict, seconds, _confidence(est, fit_z))


def neighbour_agreement(z: np.ndarray, labels: np.ndarray, n_neighbors: int = 10) -> np.ndarray:
    """(N,) share of each point's nearest neighbours (in code space) that share its label."""
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(z).kneighbors(z, return_distance=False)
    return (labels[idx[:, 1:]] == labels[:, None]).mean(axis=1)


def pseudo_labels(z: np.ndarray, k: int, method: str, seed: int, threshold: float,
                  agreement: float = 0.9):
    """(labels (N,), mask of confident points (N,), seconds per step) from clustering the codes.

    A point is confident when the clustering is (posterior >= threshold) and its neighbourhood
    agrees (>= `agreement` of its 10 nearest codes share its label): errors sit on boundaries.
    """
    fitted = cluster(z, k, method, seed)
    t = time.perf_counter()
    agree = neighbour_agreement(z, fitted.labels)
    seconds = {**fitted.seconds, "neighbours": time.perf_counter() - t}
    return fitted.labels, (fitted.confidence >= threshold) & (agree >= agreement), seconds


def _begin(step: str, stage, stop) -> None:
    check_stop(stop)
    if stage:
        stage(step)


def _confidence(est, z: np.ndarray) -> np.ndarray:
    """GMM: the top posterior. k-means: 1 - d1/d2, the margin between the two nearest centroids."""
    if hasattr(est, "predict_proba"):
        return est.predict_proba(z).max(axis=1)
    d = np.sort(est.transform(z), axis=1)
    return 1.0 - d[:, 0] / np.maximum(d[:, 1], 1e-12)


def _fit_umap(z: np.ndarray, k: int, seed: int, n_neighbors: int):
    try:
        import umap
    except ImportError:
        raise DaeError("the umap methods need the umap-learn package: pip install umap-learn") from None
    # N2D (McConville et al., 2019): embed to ~k dimensions with min_dist=0, then cluster.
    return umap.UMAP(n_components=k, n_neighbors=n_neighbors, min_dist=0.0,
                     random_state=seed, n_jobs=1).fit(z)


def match_clusters(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, int]:
    """Cluster -> label by the Hungarian algorithm on the confusion counts (maximum agreement).

    With more clusters than labels, the clusters the assignment leaves out take their majority label.
    """
    from scipy.optimize import linear_sum_assignment

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels, clusters = np.unique(y_true), np.unique(y_pred)
    counts = cluster_counts(y_pred, clusters, y_true, labels)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = {int(clusters[r]): int(labels[c]) for r, c in zip(rows, cols)}
    for r, c in enumerate(clusters):
        mapping.setdefault(int(c), int(labels[counts[r].argmax()]))
    return mapping


def cluster_counts(y_pred, clusters, y_true, labels) -> np.ndarray:
    """(n_clusters, n_labels) co-occurrence counts, via sklearn's confusion_matrix."""
    from sklearn.metrics import confusion_matrix

    values = np.union1d(clusters, labels)
    full = confusion_matrix(y_pred, y_true, labels=values)
    return full[np.searchsorted(values, clusters)][:, np.searchsorted(values, labels)]


def _accuracy(y_true, y_pred, mapping: dict) -> float:
    """Share of points whose cluster maps to their label; a cluster the mapping lacks counts wrong."""
    mapped = np.array([mapping.get(int(c), -1) for c in np.asarray(y_pred)])
    return float(np.mean(mapped == np.asarray(y_true)))


@dataclass
class ClusterReport:
    """Scores of a clustering against labels, and the tables the UI and CLI show."""

    accuracy: float
    nmi: float
    ari: float
    mapping: dict  # cluster -> label
    confusion: np.ndarray  # (n_labels, n_clusters): rows true labels, columns clusters
    labels: np.ndarray  # the label values of the rows
    clusters: np.ndarray  # the cluster ids of the columns

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "nmi": self.nmi, "ari": self.ari,
                "mapping": {str(k): v for k, v in self.mapping.items()},
                "confusion": self.confusion.tolist(), "labels": self.labels.tolist(),
                "clusters": self.clusters.tolist()}

    def reordered(self) -> tuple[np.ndarray, np.ndarray]:
        """The confusion matrix with columns ordered by their matched label (diagonal = correct)."""
        order = sorted(range(len(self.clusters)),
                       key=lambda i: (self.mapping[int(self.clusters[i])], i))
        return self.confusion[:, order], self.clusters[order]


def score(y_true: np.ndarray, y_pred: np.ndarray, mapping: dict | None = None) -> ClusterReport:
    """Accuracy, NMI, ARI, the cluster -> label mapping and the confusion matrix.

    Without `mapping`, clusters are matched to labels here (Hungarian). Held-out points are scored
    with the mapping learned on the training points, as a deployed clustering would label them:
    matching again on their own labels would use the answers. A cluster that mapping lacks
    (no training point fell in it) maps to -1 and its points count as wrong.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels, clusters = np.unique(y_true), np.unique(y_pred)
    if mapping is None:
        mapping = match_clusters(y_true, y_pred)
    else:
        mapping = {int(c): int(mapping.get(int(c), -1)) for c in clusters}
    accuracy = _accuracy(y_true, y_pred, mapping)
    confusion = cluster_counts(y_pred, clusters, y_true, labels).T
    return ClusterReport(accuracy, float(normalized_mutual_info_score(y_true, y_pred)),
                         float(adjusted_rand_score(y_true, y_pred)), mapping, confusion,
                         labels, clusters)
