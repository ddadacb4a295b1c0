"""Clusterings in the disk cache (dae_core.store): labels, step seconds and scores of a fitted
clustering, checked against the codes' labels before use; and their scores alone, for a first look.
The test codes' accuracy is always the one under the training codes' cluster -> digit mapping.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from dae_core.store import entry_key, load, load_labels, save, valid_floats, valid_labels


def labels_array(labels: np.ndarray, k: int) -> np.ndarray:
    """Cluster labels as the smallest unsigned integers that hold 0..k-1."""
    return np.asarray(labels).astype(np.uint8 if k <= 256 else np.uint16)


def _clustering_key(model: str, n_train: int, n_test: int, method: str, k: int, seed: int) -> dict:
    # umap_neighbors is cluster()'s default; the sizes tie the entry to this training split.
    return entry_key("clustering", model, method=method, k=int(k), seed=int(seed),
                     umap_neighbors=15, n_train=int(n_train), n_test=int(n_test))


def save_clustering(model: str, codes, result, directory=None) -> Path | None:
    """Store a pipeline.ClusterResult: its labels (small ints), step seconds and scores."""
    arrays = {"labels": labels_array(result.labels, result.k),
              "steps": np.array(list(result.seconds), dtype=str),
              "seconds": np.array(list(result.seconds.values()), dtype=np.float64)}
    for split in ("train", "test"):
        report = getattr(result, split)
        if report is not None:
            arrays |= {f"{split}_{name}": value for name, value in _report_arrays(report).items()}
    if result.test_labels is not None:
        arrays["test_labels"] = labels_array(result.test_labels, result.k)
    key = _clustering_key(model, len(codes.z_train), len(codes.z_test), result.method, result.k,
                          result.seed)
    return save(key, arrays, directory)


def load_clustering(model: str, codes, method: str, k: int, seed: int, directories=None):
    """The ClusterResult from a cached entry, its scores checked against its labels; or None."""
    from dae_core.analysis.pipeline import ClusterResult

    a = load(_clustering_key(model, len(codes.z_train), len(codes.z_test), method, k, seed),
             directories)
    if a is None or not {"labels", "steps", "seconds"} <= set(a):
        return None
    test = a.get("test_labels")
    if (not valid_labels(a["labels"], len(codes.z_train), k)
            or (test is not None and not valid_labels(test, len(codes.z_test), k))
            or a["steps"].dtype.kind != "U" or not valid_floats(a["seconds"], a["steps"].shape)):
        return None
    train = _report(a, "train", codes.y_train, a["labels"])
    test_report = None if test is None or train is None else _report(a, "test", codes.y_test, test,
                                                                     train.mapping)
    if train is None or (test is not None and test_report is None):
        return None
    seconds = {str(s): float(v) for s, v in zip(a["steps"], a["seconds"])}
    return ClusterResult(method, k, seed, train, test_report, a["labels"].astype(np.int64), seconds,
                         None if test is None else test.astype(np.int64))


def _report_arrays(report) -> dict[str, np.ndarray]:
    return {"scores": np.array([report.accuracy, report.nmi, report.ari], dtype=np.float64),
            "confusion": np.asarray(report.confusion, dtype=np.int64),
            "rows": np.asarray(report.labels, dtype=np.int64),
            "columns": np.asarray(report.clusters, dtype=np.int64),
            "mapping": np.array([report.mapping[int(c)] for c in report.clusters], dtype=np.int64)}


class Scores(NamedTuple):
    """A clustering's scores on one split."""

    accuracy: float
    nmi: float
    ari: float


def stored_scores(model: str, method: str, k: int, seed: int, directories=None):
    """(train Scores, test Scores or None) of a stored clustering, or None; for a first look
    before the codes, PyTorch and scikit-learn are loaded. Reads only the labels of the model's
    stored codes; each accuracy is checked against them (load_clustering checks everything)."""
    y = load_labels(model, directories)
    if y is None:
        return None
    y_train, y_test = y
    a = load(_clustering_key(model, len(y_train), len(y_test), method, k, seed), directories)
    if a is None or "labels" not in a or not valid_labels(a["labels"], len(y_train), k):
        return None
    train = _scores(a, "train", y_train, a["labels"])
    test = a.get("test_labels")
    if train is None:
        return None
    if test is not None:
        trained = dict(zip(a["train_columns"].tolist(), a["train_mapping"].tolist()))
        test = (_scores(a, "test", y_test, test, trained)
                if valid_labels(test, len(y_test), k) else None)
        if test is None:
            return None
    return train, test


def _scores(a: dict, split: str, y: np.ndarray, pred: np.ndarray,
            trained: dict | None = None) -> Scores | None:
    """The stored Scores of `split` when its arrays are well formed and its accuracy is what the
    stored cluster -> digit mapping gives on the labels y and pred; else None.

    For the test codes, `trained` is the training codes' cluster -> digit mapping, and the accuracy
    given is that mapping's: an entry whose test mapping was matched again on the test labels (as
    older versions stored it) is rescored here from its labels, without refitting.
    """
    try:
        scores, rows, columns, mapping = (a[f"{split}_{name}"]
                                          for name in ("scores", "rows", "columns", "mapping"))
    except KeyError:
        return None
    if (not valid_floats(scores, (3,)) or not np.array_equal(rows, np.unique(y))
            or not np.array_equal(columns, np.unique(pred)) or mapping.shape != columns.shape
            or mapping.dtype.kind not in "iu"  # -1: a test cluster no training code fell in
            or not np.isin(mapping, rows if trained is None else [*rows, -1]).all()
            or not 0 <= scores[1] <= 1 + 1e-9 or not -1 - 1e-9 <= scores[2] <= 1 + 1e-9):
        return None
    hits = np.count_nonzero(mapping[np.searchsorted(columns, pred)] == y)
    if not np.isclose(scores[0], hits / len(y), rtol=0, atol=1e-12):
        return None
    if trained is not None:
        mapped = np.array([trained.get(c, -1) for c in columns.tolist()], dtype=np.int64)
        scores = [np.count_nonzero(mapped[np.searchsorted(columns, pred)] == y) / len(y), *scores[1:]]
    return Scores(*(float(s) for s in scores))


def _report(a: dict, split: str, y: np.ndarray, pred: np.ndarray, trained: dict | None = None):
    """The ClusterReport stored for `split` when it agrees with the labels y and pred, else None.

    Rebuilt, not scored again: the scores are checked as in stored_scores and the confusion counts
    recounted from the labels (the Hungarian matching and NMI / ARI are not rerun). The test codes
    (`trained` given) keep the training codes' cluster -> digit mapping.
    """
    from dae_core.analysis.cluster import ClusterReport, cluster_counts

    scores = _scores(a, split, y, pred, trained)
    if scores is None or f"{split}_confusion" not in a:
        return None
    confusion, rows, columns = (a[f"{split}_{name}"] for name in ("confusion", "rows", "columns"))
    if not np.array_equal(confusion, cluster_counts(pred, columns, y, rows).T):  # (digits, clusters)
        return None
    mapping = ({c: trained.get(c, -1) for c in columns.tolist()} if trained is not None
               else dict(zip(columns.tolist(), a[f"{split}_mapping"].tolist())))
    return ClusterReport(*scores, mapping, confusion, rows, columns)
