"""Cached loaders of immutable things: the dataset, checkpoints, and a checkpoint's codes,
samplers and sample scores through the result cache (dae_core.store).

Keys include the file's modification time, so a checkpoint rewritten on disk is reloaded.
Nothing cached here is ever trained or mutated (STYLE.md rule 6). What this module computes in
the page it computes inside `busy()`: a spinner, and one of the server's $DAE_PAGE_FITS slots.
Every Streamlit cache has a bound (max_entries, or a comment saying why it needs none); the
result cache holds itself to $DAE_MEMORY_CACHE_MB in memory and $DAE_CACHE_MAX_MB on disk.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from dae_core import checkpoint as ckpt_io
from dae_core import store
from dae_core.analysis.denoise import SWEEP_STRENGTHS
from dae_core.analysis.denoise import noise_sweep as sweep
from dae_core.analysis.latent import class_dims_of, fitted_sampler
from dae_core.analysis.pipeline import encoded
from dae_core.analysis.quality import CLASSIFIER, QUALITY, quality_params, reference_of
from dae_core.analysis.quality import sample_quality as score_quality
from dae_core.bounds import Slots
from dae_core.classifier import load_classifier
from dae_core.data import load_digits
from dae_core.errors import DaeError
from dae_core.settings import settings

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
    """The loaded model's content hash (weights and config): the key of its cached results."""
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


@contextmanager
def busy(message: str, what: str):
    """A spinner saying `message`, around one of the server's heavy slots (heavy(what))."""
    with st.spinner(message), heavy(what):
        yield


def codes(path: str, mtime: float):
    """The model's Codes: from the result cache, else encoded here (seconds) and kept."""
    ck = checkpoint(path, mtime)

    def hold():
        digits(ck.config.dataset)  # with its own spinner, before the encoding's
        return busy("Encoding the training and test images…", f"encoding {Path(path).name}")

    return encoded(ck.model, ck.config, fingerprint(path, mtime), hold)


def sampler(path: str, mtime: float, kind: str):
    """The sampler `kind` fitted to the model's training codes (from the result cache, else
    fitted here and kept)."""
    return fitted_sampler(kind, fingerprint(path, mtime), lambda: codes(path, mtime).z_train,
                          lambda: busy("Fitting the sampler…", f"the {kind} sampler"),
                          class_dims_of(checkpoint(path, mtime).model))


def noise_sweep(path: str, mtime: float, noise: str, seed: int, n_images: int = 500):
    """(strengths, corrupted MSE, reconstruction MSE) over the first n_images test digits, kept
    by the model's content: another file of the same model (an upload of it) finds it."""
    return _noise_sweep(fingerprint(path, mtime), noise, seed, n_images, path, mtime)


@st.cache_resource(show_spinner="Sweeping the noise strength…", max_entries=64)
def _noise_sweep(model: str, noise: str, seed: int, n_images: int, _path: str, _mtime: float):
    ck = checkpoint(_path, _mtime)  # `_` arguments are not part of the key: `model` names the content
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


# Bounded: one entry (no arguments), the shipped classifier's file.
@st.cache_resource(show_spinner=False)
def classifier_sha256() -> str:
    """sha256 of the classifier file ("" when missing): sample scores are that file's."""
    return store.file_sha256(CLASSIFIER) if CLASSIFIER.exists() else ""


def classifier_and_reference():
    """(classifier, its (mu, sigma) on the 10k test images), or None when the file is missing/bad."""
    clf = classifier()
    if clf is None:
        return None
    return clf, reference_of(clf, classifier_sha256(), lambda: busy(
        "Scoring the test digits with the classifier…", "the classifier's reference statistics"))


def sample_quality(path: str, mtime: float, kind: str, n: int = 1000, seed: int = 0):
    """The quality dict (recognised, class_hist, entropy, IS, FID) of n samples of one sampler
    (from the result cache, else scored here); None without the classifier."""
    judged = classifier_and_reference()
    if judged is None:
        return None
    ck = checkpoint(path, mtime)

    def compute() -> dict:
        fitted = sampler(path, mtime, kind)
        with busy(f"Scoring {n} samples with the classifier…", "scoring samples"):
            return score_quality(ck.model, ck.config.latent_dim, fitted, *judged, n, seed)

    return store.get_or_compute(QUALITY, fingerprint(path, mtime),
                                quality_params(kind, n, seed, classifier_sha256()), compute)


def stored_quality(path: str, mtime: float, kind: str, n: int = 1000, seed: int = 0) -> dict | None:
    """The quality dict of one sampler from the result cache, or None."""
    return store.get(QUALITY, fingerprint(path, mtime), quality_params(kind, n, seed, classifier_sha256()))


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
