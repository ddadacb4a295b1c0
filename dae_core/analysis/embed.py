"""2-D maps of codes (PCA, t-SNE, UMAP) and pixel baselines for clustering, arrays in and out (sklearn)."""
from __future__ import annotations

import numpy as np

from dae_core import store
from dae_core.analysis.cluster import ClusterReport
from dae_core.errors import DaeError
from dae_core.store.disk import valid_floats, valid_labels

# One OpenMP thread: these fits are small, and on a busy 2-core machine extra threads wait on
# each other, so one thread is faster (docs/speed.md). OpenMP's
# thread count belongs to the calling thread, so limiting it is safe in a threaded server.
_THREADS = 1


def pca_2d(z: np.ndarray) -> np.ndarray:
    """Codes (N, d) -> their first two principal components, float32 (N, 2)."""
    from sklearn.decomposition import PCA  # here: the tables below need no scikit-learn

    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] < 2:
        raise DaeError(f"PCA to 2-D needs codes of shape (N, d >= 2), got {z.shape}")
    return PCA(n_components=2).fit_transform(z).astype(np.float32)


def tsne_2d(z: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """t-SNE of a random subsample of n codes: (idx (n,) sorted positions in z, xy float32 (n, 2))."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    z = np.asarray(z, dtype=np.float32)
    m = min(n, len(z))
    if m < 5:
        raise DaeError(f"t-SNE needs at least 5 points, got {m}")
    idx = np.sort(np.random.default_rng(seed).choice(len(z), m, replace=False))
    # 30 is sklearn's default; tiny samples need 3 * perplexity < n (the neighbours it looks at).
    tsne = TSNE(n_components=2, perplexity=min(30.0, (m - 1) / 3), init="pca", random_state=seed)
    with threadpool_limits(_THREADS, user_api="openmp"):
        return idx, tsne.fit_transform(z[idx]).astype(np.float32)


def umap_2d(z: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """UMAP of every code to 2-D, for drawing (min_dist 0.1, UMAP's default): xy float32 (N, 2)."""
    z = np.asarray(z, dtype=np.float32)
    if len(z) <= n_neighbors:
        raise DaeError(f"a UMAP map needs more than {n_neighbors} points, got {len(z)}")
    try:
        import umap
    except ImportError:
        raise DaeError("the UMAP map needs the umap-learn package: pip install umap-learn") from None
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, n_jobs=1)
    return reducer.fit_transform(z).astype(np.float32)


def map_2d(z: np.ndarray, projection: str, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(idx, xy): a 'tsne' map of n sampled codes, or a 'umap' map of all of them (idx = 0..N-1)."""
    if projection == "tsne":
        return tsne_2d(z, len(z) if n is None else n, seed)
    return np.arange(len(z)), umap_2d(z, seed)


def map_params(projection: str, n_codes: int, n: int | None, seed: int) -> dict:
    """What a map depends on, besides the model: its projection, its codes (n of n_codes; all
    for n=None) and seed."""
    return {"projection": projection, "n_codes": int(n_codes),
            "n": int(n_codes if n is None else n), "seed": int(seed)}


def _stored_map(a: dict, key: dict):
    m, n_codes = min(key["n"], key["n_codes"]), key["n_codes"]
    idx, xy = a.get("idx"), a.get("xy")
    if (not valid_labels(idx, m, n_codes) or not valid_floats(xy, (m, 2))
            or (m > 1 and not np.all(np.diff(idx) > 0))):
        return None
    return idx.astype(np.int64), xy.astype(np.float32)


# A 2-D map in the result cache: positions idx (m,) among the training codes, and xy (m, 2).
MAP = store.Kind("map", lambda m: {"idx": np.asarray(m[0], dtype=np.int32),
                                   "xy": np.asarray(m[1], dtype=np.float32)}, _stored_map)


def pixel_baseline(images, k: int = 10, seed: int = 0, pca_dims: int | None = None) -> np.ndarray:
    """k-means on raw pixels (N, H, W), or on their first pca_dims principal components: labels (N,)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    from dae_core.data import to_unit  # PyTorch: the maps and clusterings need none

    x = to_unit(images).reshape(len(images), -1)
    with threadpool_limits(_THREADS, user_api="openmp"):
        if pca_dims is not None:
            x = PCA(n_components=pca_dims, random_state=seed).fit_transform(x)
        # n_init="auto" (sklearn's default: one k-means++ start) keeps the 784-d case to seconds.
        return KMeans(n_clusters=k, n_init="auto", random_state=seed).fit_predict(x)


def cluster_table(report: ClusterReport) -> list[dict]:
    """One row per cluster: its size, the digit the matching gives it and the share of its points
    that are that digit ("matched"), its most common digit ("majority") and that digit's share.

    Purity is the share of the most common digit (the usual definition): a cluster of 1,696 sevens
    among 1,768 points is 0.96 pure even when the one-to-one matching gives the sevens to another
    cluster. The "matched" shares add up to the accuracy: sum(size * matched) / N = accuracy.
    """
    rows = []
    for j, c in enumerate(report.clusters):
        column = report.confusion[:, j]
        digit, size, top = report.mapping[int(c)], int(column.sum()), int(column.argmax())
        hits = int(column[np.searchsorted(report.labels, digit)])
        rows.append({"cluster": int(c), "digit": digit, "size": size,
                     "matched": hits / size if size else 0.0,
                     "majority": int(report.labels[top]),
                     "purity": int(column[top]) / size if size else 0.0})
    return rows


def clusters_by_count(report: ClusterReport, digit: int) -> list[tuple[int, int]]:
    """(cluster, how many points of `digit` it holds) for every cluster, fullest first."""
    row = report.confusion[np.searchsorted(report.labels, digit)]
    return [(int(report.clusters[j]), int(row[j])) for j in np.argsort(-row, kind="stable")]


def cell_indices(y_true: np.ndarray, labels: np.ndarray, digit: int, cluster: int) -> np.ndarray:
    """Positions of the points whose true label is `digit` and whose cluster is `cluster` (sorted)."""
    return np.flatnonzero((np.asarray(y_true) == digit) & (np.asarray(labels) == cluster))
