"""End-to-end analyses of one model, shared by the CLI, the app and the benchmarks."""
from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from dae_core import store
from dae_core.analysis.cluster import ClusterReport, check_stop, cluster, cluster_counts, score
from dae_core.analysis.latent import encode
from dae_core.store.disk import valid_floats, valid_labels


@dataclass(frozen=True)
class Codes:
    """A model's codes of its own training split and of the test set, with their labels."""

    z_train: np.ndarray  # (N_train, d)
    y_train: np.ndarray  # (N_train,)
    z_test: np.ndarray  # (10000, d)
    y_test: np.ndarray
    train_index: np.ndarray  # positions of the training split in the 60k training set
    seconds: float


def _codes_arrays(codes: Codes) -> dict:
    return {"z_train": codes.z_train, "y_train": codes.y_train.astype(np.uint8),
            "z_test": codes.z_test, "y_test": codes.y_test.astype(np.uint8),
            "train_index": codes.train_index.astype(np.int32)}


def _stored_codes(a: dict, key: dict) -> Codes | None:
    if not {"z_train", "y_train", "z_test", "y_test", "train_index"} <= set(a):
        return None
    n, m, d = len(a["y_train"]), len(a["y_test"]), a["z_train"].shape[-1]
    ok = (n > 0 and m > 0 and d > 0 and valid_floats(a["z_train"], (n, d))
          and valid_floats(a["z_test"], (m, d)) and valid_labels(a["y_train"], n, 256)
          and valid_labels(a["y_test"], m, 256) and valid_labels(a["train_index"], n, 2**31))
    if not ok:
        return None
    return Codes(a["z_train"].astype(np.float32), a["y_train"].astype(np.int64),
                 a["z_test"].astype(np.float32), a["y_test"].astype(np.int64),
                 a["train_index"].astype(np.int64), 0.0)


# A model's codes in the result cache (seconds = 0.0: they took none to read).
CODES = store.Kind("codes", _codes_arrays, _stored_codes)


def encoded(model, config, fingerprint: str, hold=nullcontext) -> Codes:
    """The model's Codes: from the result cache, else encoded (inside the context hold()) and kept."""
    def compute() -> Codes:
        with hold():
            return encode_splits(model, config)

    return store.get_or_compute(CODES, fingerprint, {}, compute)


def encode_splits(model, config) -> Codes:
    """Encode the config's training split (48k for the reference) and the 10k test images."""
    from dae_core.data import load_digits, training_split  # PyTorch: only where codes are computed

    t = time.perf_counter()
    split, digits = training_split(config), load_digits(config.dataset)
    z_train = encode(model, split.train_images)
    z_test = encode(model, digits.test_images)
    return Codes(z_train, split.train_labels.numpy(), z_test, digits.test_labels.numpy(),
                 split.train_index.numpy(), time.perf_counter() - t)


@dataclass
class ClusterResult:
    """One clustering run: the report on the training codes (and on the test codes, scored with
    the training codes' cluster -> digit mapping), timings."""

    method: str
    k: int
    seed: int
    train: ClusterReport
    test: ClusterReport | None
    labels: np.ndarray  # cluster of each training code
    seconds: dict
    test_labels: np.ndarray | None = None  # cluster of each test code, when scored

    def to_dict(self) -> dict:
        out = {"method": self.method, "k": self.k, "seed": self.seed, "seconds": self.seconds,
               **self.train.to_dict()}
        if self.test is not None:
            out["test"] = {k: v for k, v in self.test.to_dict().items() if k in ("accuracy", "nmi", "ari")}
        return out


def class_part(codes: Codes, class_dims: list[int] | None) -> Codes:
    """The codes a clustering reads: a split model's class part (its class_dims), else all."""
    if not class_dims:
        return codes
    return dataclasses.replace(codes, z_train=codes.z_train[:, class_dims], z_test=codes.z_test[:, class_dims])


def cluster_codes(codes: Codes, k: int = 10, method: str = "kmeans", seed: int = 0,
                  with_test: bool = True, progress=None, stage=None, stop=None,
                  class_dims: list[int] | None = None) -> ClusterResult:
    """Cluster the training codes, score them, and score the test codes with the fitted model.

    progress(step, seconds) and stage(step) report the steps (cluster.STEPS, then "test"); a set
    `stop` raises cluster.Cancelled between them. For a split model, pass its class_dims: only
    its class part is clustered (the style part is free to hold what does not name a digit).
    """
    codes = class_part(codes, class_dims)
    fitted = cluster(codes.z_train, k, method, seed, progress=progress, stage=stage, stop=stop)
    test_labels = None
    if with_test:
        check_stop(stop)
        if stage:
            stage("test")
        t = time.perf_counter()
        test_labels = fitted.predict(codes.z_test)
        fitted.seconds["test"] = time.perf_counter() - t
    return result_from_labels(codes, method, k, seed, fitted.labels, test_labels, fitted.seconds)


def result_from_labels(codes: Codes, method: str, k: int, seed: int, labels: np.ndarray,
                       test_labels: np.ndarray | None, seconds: dict) -> ClusterResult:
    """The ClusterResult of given cluster labels of the training (and test) codes: scored here,
    the test codes with the cluster -> digit mapping learned on the training codes."""
    seconds = dict(seconds)
    t = time.perf_counter()
    train = score(codes.y_train, labels)
    seconds["hungarian"] = time.perf_counter() - t
    # The test codes keep the training codes' cluster -> digit mapping: their own labels only score.
    test = score(codes.y_test, test_labels, train.mapping) if test_labels is not None else None
    return ClusterResult(method, k, seed, train, test, np.asarray(labels), seconds,
                         None if test_labels is None else np.asarray(test_labels))


def clustering_params(codes: Codes, method: str, k: int, seed: int,
                      class_dims: list[int] | None = None) -> dict:
    """What a clustering depends on, besides the model: the method's settings, the sizes that
    tie it to this training split (umap_neighbors is cluster()'s default) and, for a split model,
    the coordinates clustered."""
    params = {"method": method, "k": int(k), "seed": int(seed), "umap_neighbors": 15,
              "n_train": len(codes.z_train), "n_test": len(codes.z_test)}
    return params | ({"dims": [int(i) for i in class_dims]} if class_dims else {})


def clustered(codes: Codes, fingerprint: str, k: int, method: str, seed: int,
              hold=nullcontext, class_dims: list[int] | None = None) -> ClusterResult:
    """cluster_codes from the result cache, else computed (inside the context hold()) and kept."""
    def compute() -> ClusterResult:
        with hold():
            return cluster_codes(codes, k, method, seed, class_dims=class_dims)

    return store.get_or_compute(CLUSTERING, fingerprint,
                                clustering_params(codes, method, k, seed, class_dims), compute)


def summarize(results: list[ClusterResult]) -> dict:
    """Mean and standard deviation of accuracy / NMI / ARI over runs (e.g. several seeds)."""
    out = {}
    for split in ("train", "test"):
        reports = [getattr(r, split) for r in results if getattr(r, split) is not None]
        for key in ("accuracy", "nmi", "ari"):
            values = np.array([getattr(rep, key) for rep in reports])
            if len(values):
                out[f"{split}_{key}_mean"] = float(values.mean())
                out[f"{split}_{key}_std"] = float(values.std())
    return out


def _labels_array(labels: np.ndarray, k: int) -> np.ndarray:
    """Cluster labels as the smallest unsigned integers that hold 0..k-1."""
    return np.asarray(labels).astype(np.uint8 if k <= 256 else np.uint16)


def _report_arrays(split: str, report: ClusterReport) -> dict[str, np.ndarray]:
    arrays = {"scores": np.array([report.accuracy, report.nmi, report.ari], dtype=np.float64),
              "confusion": np.asarray(report.confusion, dtype=np.int64),
              "rows": np.asarray(report.labels, dtype=np.int64),
              "columns": np.asarray(report.clusters, dtype=np.int64),
              "mapping": np.array([report.mapping[int(c)] for c in report.clusters], dtype=np.int64)}
    return {f"{split}_{name}": value for name, value in arrays.items()}


def _clustering_arrays(result: ClusterResult) -> dict[str, np.ndarray]:
    arrays = {"labels": _labels_array(result.labels, result.k),
              "steps": np.array(list(result.seconds), dtype=str),
              "seconds": np.array(list(result.seconds.values()), dtype=np.float64),
              **_report_arrays("train", result.train)}
    if result.test is not None:
        arrays |= _report_arrays("test", result.test)
    if result.test_labels is not None:
        arrays["test_labels"] = _labels_array(result.test_labels, result.k)
    return arrays


def _stored_clustering(a: dict, key: dict) -> ClusterResult | None:
    """The ClusterResult of a stored clustering, checked against the labels of the model's stored
    codes: its scores are what its labels and mapping give, its confusion counts recounted (the
    Hungarian matching and NMI / ARI are not rerun). The test codes keep the training codes'
    cluster -> digit mapping."""
    codes = store.get(CODES, key["model"])
    k = key["k"]
    if (codes is None or (len(codes.y_train), len(codes.y_test)) != (key["n_train"], key["n_test"])
            or not {"labels", "steps", "seconds"} <= set(a)):
        return None
    test = a.get("test_labels")
    if (not valid_labels(a["labels"], len(codes.y_train), k)
            or (test is not None and not valid_labels(test, len(codes.y_test), k))
            or a["steps"].dtype.kind != "U" or not valid_floats(a["seconds"], a["steps"].shape)):
        return None
    train = _stored_report(a, "train", codes.y_train, a["labels"])
    test_report = None if test is None or train is None else _stored_report(
        a, "test", codes.y_test, test, train.mapping)
    if train is None or (test is not None and test_report is None):
        return None
    seconds = {str(s): float(v) for s, v in zip(a["steps"], a["seconds"])}
    return ClusterResult(key["method"], k, key["seed"], train, test_report,
                         a["labels"].astype(np.int64), seconds,
                         None if test is None else test.astype(np.int64))


def _stored_report(a: dict, split: str, y: np.ndarray, pred: np.ndarray,
                   trained: dict | None = None) -> ClusterReport | None:
    """The ClusterReport stored for `split` when it agrees with the labels y and pred, else None.
    For the test codes, `trained` is the training codes' cluster -> digit mapping, and the
    accuracy given is that mapping's (an entry whose test mapping was matched again on the test
    labels, as older versions stored it, is rescored from its labels)."""
    try:
        scores, confusion, rows, columns, mapping = (
            a[f"{split}_{name}"] for name in ("scores", "confusion", "rows", "columns", "mapping"))
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
    if not np.array_equal(confusion, cluster_counts(pred, columns, y, rows).T):  # (digits, clusters)
        return None
    mapped = (dict(zip(columns.tolist(), mapping.tolist())) if trained is None
              else {c: trained.get(c, -1) for c in columns.tolist()})
    if trained is not None:
        order = np.array([mapped[c] for c in columns.tolist()], dtype=np.int64)
        accuracy = np.count_nonzero(order[np.searchsorted(columns, pred)] == y) / len(y)
        scores = [accuracy, *scores[1:]]
    return ClusterReport(*(float(s) for s in scores), mapped, confusion, rows, columns)


# A clustering of a model's codes: its labels (small ints), step seconds and scores.
CLUSTERING = store.Kind("clustering", _clustering_arrays, _stored_clustering)
