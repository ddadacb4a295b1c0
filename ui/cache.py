"""Cached loaders of immutable things: the dataset, checkpoints, a checkpoint's codes and samplers.

Clusterings and 2-D maps of the codes are in ui.cluster_cache.

Keys include the file's modification time, so a checkpoint rewritten on disk is reloaded.
Nothing cached here is ever trained or mutated (STYLE.md rule 6).

Every cache has a bound: max_entries, or a comment saying why it needs none; finished results
share one LRU of at most $DAE_MEMORY_CACHE_MB megabytes. No ttl: a key names immutable content
(a file's path and mtime), so an entry is never stale, only unused, and unused entries go first.
"""
from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dae_core import analyses, store
from dae_core import checkpoint as ckpt_io
from dae_core.analysis.denoise import SWEEP_STRENGTHS
from dae_core.analysis.denoise import noise_sweep as sweep
from dae_core.analysis.latent import LatentSampler
from dae_core.analysis.pipeline import encode_splits
from dae_core.analysis.quality import reference_stats
from dae_core.bounds import LRUCache, Slots
from dae_core.classifier import load_classifier
from dae_core.data import load_digits
from dae_core.errors import DaeError
from dae_core.settings import MB, settings
from dae_core.store import CLASSIFIER

from .background import Ask

log = logging.getLogger(__name__)


def file_key(path: str | Path) -> tuple[str, float]:
    """(path, mtime): the cache key of a file's current content."""
    p = Path(path)
    return str(p), p.stat().st_mtime if p.exists() else 0.0


# Bounded: one entry per dataset load_digits knows (three); an unknown name raises, caching nothing.
@st.cache_resource(show_spinner="Loading MNIST…")
def digits(name: str = "mnist"):
    return load_digits(name)


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=16)
def checkpoint(path: str, mtime: float):
    """A loaded checkpoint (model in eval mode); raises CheckpointError for a bad file."""
    return ckpt_io.load(path)


def load_checkpoint(path: str | Path):
    return checkpoint(*file_key(path))


@st.cache_resource(show_spinner=False, max_entries=16)
def fingerprint(path: str, mtime: float) -> str:
    """The loaded model's content hash (weights and config): the key of its disk-cache entries."""
    ck = checkpoint(path, mtime)
    return store.fingerprint(ck.model, ck.config)


FIT_WAIT_S = 60.0  # a fit waits this long for a slot, then runs anyway (logged)


# Bounded: one entry (no arguments).
@st.cache_resource(show_spinner=False)
def _fit_slots() -> Slots:
    return Slots(settings().page_fits, FIT_WAIT_S)


def heavy(what: str):
    """A context in which one of the server's $DAE_PAGE_FITS slots is held: the fits that run in
    the page (k-means, a noise sweep, a sampler, an encoding) take turns, so that a class asking
    many at once leaves cores for everyone's page runs."""
    return _fit_slots().hold(what)


@st.cache_resource(show_spinner="Encoding the training and test images…", max_entries=8)
def codes(path: str, mtime: float):
    """The model's Codes: from the disk cache when there, else encoded here (seconds) and stored."""
    ck, fp = checkpoint(path, mtime), fingerprint(path, mtime)
    found = store.load_codes(fp, ck.config.latent_dim)
    if found is not None:
        return found
    digits(ck.config.dataset)
    with heavy(f"encoding {Path(path).name}"):
        out = encode_splits(ck.model, ck.config)
    store.save_codes(fp, out)
    return out


MAX_RESULTS = 4096  # however small: a URL can name any number of seeds


# Bounded: one entry (no arguments), an LRU that holds itself to its bytes and entries.
@st.cache_resource(show_spinner=False)
def results() -> LRUCache:
    """The finished results of every checkpoint, shared by every session; LRU, thread-safe."""
    return LRUCache(int(settings().memory_cache_mb * MB), MAX_RESULTS)


class Finished:
    """One checkpoint's part of results(): key -> a result that is never mutated. Read with get():
    an entry seen with `in` may be evicted before the next line reads it."""

    def __init__(self, lru: LRUCache, path: str, mtime: float) -> None:
        self._lru, self._model = lru, (path, mtime)

    def get(self, key, default=None):
        return self._lru.get((self._model, key), default)

    def __setitem__(self, key, value) -> None:
        self._lru.put((self._model, key), value)

    def __contains__(self, key) -> bool:
        return (self._model, key) in self._lru

    def pop(self, key, default=None):
        return self._lru.pop((self._model, key), default)


def finished(path: str, mtime: float) -> Finished:
    """Finished clusterings, maps and sample scores of one checkpoint, shared by every session."""
    return Finished(results(), path, mtime)


@st.cache_resource(show_spinner="Fitting the cluster mixture…", max_entries=8)
def _cluster_mixture(path: str, mtime: float):
    return _fitted(path, mtime, LatentSampler("cluster:0"))


@st.cache_resource(show_spinner="Fitting the sampler…", max_entries=32)
def sampler(path: str, mtime: float, kind: str):
    if kind.startswith("cluster:"):  # every cluster:K shares the one fitted 10-component mixture
        return _cluster_mixture(path, mtime).restrict(LatentSampler(kind).component)
    s = LatentSampler(kind)
    return s if kind == "uniform01" else _fitted(path, mtime, s)


def _fitted(path: str, mtime: float, s: LatentSampler) -> LatentSampler:
    """s fitted to the model's training codes: from the disk cache when there, else fitted here
    and stored."""
    fp = fingerprint(path, mtime)
    found = store.load_sampler(fp, s)
    if found is not None:
        return found
    z = codes(path, mtime).z_train
    with heavy(f"the {s.kind} sampler"):
        s.fit(z)
    store.save_sampler(fp, s)
    return s


@st.cache_resource(show_spinner="Sweeping the noise strength…", max_entries=64)
def noise_sweep(path: str, mtime: float, noise: str, seed: int, n_images: int = 500):
    """(strengths, corrupted MSE, reconstruction MSE) over the first n_images test digits."""
    ck = checkpoint(path, mtime)
    images = digits(ck.config.dataset).test_images[:n_images]
    with heavy("a noise sweep"):
        return (SWEEP_STRENGTHS, *sweep(ck.model, images, noise, SWEEP_STRENGTHS, seed))




# Bounded: one entry (no arguments), the shipped classifier.
@st.cache_resource(show_spinner="Loading the digit classifier…")
def classifier():
    """The shipped digit classifier (eval mode), or None when the file is missing or bad."""
    try:
        return load_classifier(CLASSIFIER)
    except DaeError:
        return None


# Bounded: one entry (no arguments).
@st.cache_resource(show_spinner="Scoring the test digits with the classifier…")
def classifier_and_reference():
    """(classifier, its (mu, sigma) on the 10k test images), or None when the file is missing/bad."""
    clf = classifier()
    if clf is None:
        return None
    sha = store.file_sha256(CLASSIFIER)  # the stored statistics are the file's, whoever wrote it
    found = store.load_reference(sha)
    if found is None:
        with heavy("the classifier's reference statistics"):
            found = reference_stats(clf)
        store.save_reference(sha, *found)
    return clf, found


def _quality(ck, fitted, judged, n: int, seed: int) -> dict:
    return analyses.sample_quality(ck.model, ck.config.latent_dim, fitted, judged[0], judged[1], n, seed)


def sample_quality(path: str, mtime: float, kind: str, n: int = 1000, seed: int = 0):
    """The quality dict (recognised, class_hist, entropy, IS, FID) of n samples of one sampler
    (from the cache, else scored here); None without the classifier."""
    judged = classifier_and_reference()
    if judged is None:
        return None
    found = stored_quality(path, mtime, kind, n, seed)
    if found is None:
        with st.spinner(f"Scoring {n} samples with the classifier…"):
            fitted, ck = sampler(path, mtime, kind), checkpoint(path, mtime)
            with heavy("scoring samples"):
                found = _quality(ck, fitted, judged, n, seed)
        store.save_quality(fingerprint(path, mtime), kind, n, seed, found)
        finished(path, mtime)[("quality", kind, n, seed)] = found
    return found


def stored_quality(path: str, mtime: float, kind: str, n: int = 1000, seed: int = 0) -> dict | None:
    """The quality dict of one sampler from memory or the disk cache, or None."""
    done, key = finished(path, mtime), ("quality", kind, n, seed)
    found = done.get(key)
    if found is None:
        found = store.load_quality(fingerprint(path, mtime), kind, n, seed)
        if found is not None:
            done[key] = found
    return found


def cached_quality(path: str, mtime: float, kinds: list[str], n: int = 1000, seed: int = 0):
    """kind -> quality dict when every kind's is cached, else None."""
    found = {kind: stored_quality(path, mtime, kind, n, seed) for kind in kinds}
    return found if all(q is not None for q in found.values()) else None


def quality_asks(path: str, mtime: float, kinds: list[str], n: int = 1000, seed: int = 0) -> list:
    """A job (ui.background.Ask) per sampler of `kinds` not scored yet: fit it to the training
    codes, score n samples with the classifier; read back from the cache."""
    fp = fingerprint(path, mtime)
    return [Ask((fp, "quality", kind, n, seed),
                {"kind": "quality", "checkpoint": path, "sampler": kind, "n": n, "seed": seed}, fp,
                f"scoring {n} samples of {kind} from {Path(path).name}",
                lambda kind=kind: stored_quality(path, mtime, kind, n, seed))
            for kind in kinds if stored_quality(path, mtime, kind, n, seed) is None]
