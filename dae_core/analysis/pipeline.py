"""End-to-end analyses of one model, shared by the CLI, the app and the benchmarks."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dae_core.analysis.cluster import ClusterReport, check_stop, cluster, score
from dae_core.analysis.latent import encode
from dae_core.data import load_digits, training_split


@dataclass(frozen=True)
class Codes:
    """A model's codes of its own training split and of the test set, with their labels."""

    z_train: np.ndarray  # (N_train, d)
    y_train: np.ndarray  # (N_train,)
    z_test: np.ndarray  # (10000, d)
    y_test: np.ndarray
    train_index: np.ndarray  # positions of the training split in the 60k training set
    seconds: float


def encode_splits(model, config) -> Codes:
    """Encode the config's training split (48k for the reference) and the 10k test images."""
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


def cluster_codes(codes: Codes, k: int = 10, method: str = "kmeans", seed: int = 0,
                  with_test: bool = True, progress=None, stage=None, stop=None) -> ClusterResult:
    """Cluster the training codes, score them, and score the test codes with the fitted model.

    progress(step, seconds) and stage(step) report the steps (cluster.STEPS, then "test"); a set
    `stop` raises cluster.Cancelled between them.
    """
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
