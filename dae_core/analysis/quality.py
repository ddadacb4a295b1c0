"""Sample quality of generated digits as judged by the digit classifier: arrays in, numbers out.

recognised share, class entropy, Inception Score and Frechet distance (FID computed with the
classifier's penultimate features instead of Inception-v3's, the usual practice on MNIST).
"""
from __future__ import annotations

import json
from contextlib import nullcontext

import numpy as np
import torch
from scipy import linalg
from scipy.special import rel_entr, softmax

from dae_core import store
from dae_core.paths import ROOT
from dae_core.data import load_digits, to_float
from dae_core.errors import DaeError
from dae_core.store.disk import valid_floats

CLASSIFIER = ROOT / "checkpoints" / "classifiers" / "mnist-cnn.pt"  # the shipped one, that scores samples
RECOGNISED_AT = 0.9  # max softmax probability from which a sample counts as a recognisable digit


def _as_batch(images) -> torch.Tensor:
    """uint8 or float (N, 28, 28) (numpy or torch) -> float32 (N, 1, 28, 28) in [0, 1]."""
    if np.ndim(images) != 3 or tuple(np.shape(images)[1:]) != (28, 28):
        raise DaeError(f"images must have shape (N, 28, 28), got {tuple(np.shape(images))}")
    return to_float(images)


@torch.inference_mode()
def classify(classifier, images, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) -> (logits (N, 10), penultimate features (N, F)), both float64."""
    classifier.eval()
    x = _as_batch(images)
    logits, feats = [], []
    for i in range(0, len(x), batch_size):
        f = classifier.features(x[i: i + batch_size])
        feats.append(f.double())
        logits.append(classifier.head(f).double())
    if not logits:
        return np.zeros((0, 10)), np.zeros((0, classifier.hidden))
    return torch.cat(logits).numpy(), torch.cat(feats).numpy()


def top_class(classifier, images) -> tuple[np.ndarray, np.ndarray]:
    """(predicted digit (N,), its probability p(y|x) (N,)) of images (N, 28, 28); a probability
    under RECOGNISED_AT means the image does not look like any digit the classifier knows."""
    probs = softmax(classify(classifier, images)[0], axis=1)
    return probs.argmax(axis=1), probs.max(axis=1)


def recognised_share(probs: np.ndarray, threshold: float = RECOGNISED_AT) -> float:
    """Share of rows of p(y|x) (N, 10) whose largest probability is at least `threshold`."""
    return float((np.asarray(probs).max(axis=1) >= threshold).mean()) if len(probs) else float("nan")


def class_histogram(probs: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """How many rows predict each class (argmax): int64 (n_classes,)."""
    return np.bincount(np.asarray(probs).argmax(axis=1), minlength=n_classes).astype(np.int64)


def class_entropy_bits(hist) -> float:
    """Entropy in bits of a histogram of counts: log2(10) for 10 equal classes, 0 for one class."""
    p = np.asarray(hist, dtype=np.float64)
    p = p[p > 0] / p.sum()  # 0 log 0 = 0
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def inception_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))), p(y) the mean of the rows (Salimans et al. 2016): 1 .. n_classes."""
    p_yx = np.asarray(probs, dtype=np.float64)
    p_y = p_yx.mean(axis=0, keepdims=True)
    return float(np.exp(rel_entr(p_yx, p_y).sum(axis=1).mean()))


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and covariance (F, F) of features (N, F), N >= 2."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise DaeError(f"need at least 2 feature rows for a covariance, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians (Heusel et al. 2017).

    Tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of S1 S2, which are those of
    the symmetric S1^(1/2) S2 S1^(1/2): two symmetric eigendecompositions, exact for singular
    covariances too, with no complex round-off and no warning to silence (the reference code's
    general matrix square root warns on a singular product, and silencing a warning is not safe
    while other threads run).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise DaeError(f"Gaussians of different sizes: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    w, v = linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_covmean)


def reference_stats(classifier, test_images=None) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of the classifier's features of the 10k MNIST test images: compute once, reuse."""
    images = load_digits("mnist").test_images if test_images is None else test_images
    return gaussian_stats(classify(classifier, images)[1])


_reference_stats = reference_stats  # score_samples' argument of the same name hides the function


def score_outputs(logits: np.ndarray, features: np.ndarray, reference=None) -> dict:
    """The quality dict from the classifier's outputs; frechet_distance is None without a reference."""
    probs = softmax(np.asarray(logits, dtype=np.float64), axis=1)
    hist = class_histogram(probs)
    fid = None
    if reference is not None and len(features) >= 2:
        fid = frechet_distance(*gaussian_stats(features), *reference)
    return {
        "n": int(len(probs)),
        "recognised": recognised_share(probs),
        "class_hist": [int(c) for c in hist],
        "class_entropy_bits": class_entropy_bits(hist),
        "inception_score": inception_score(probs),
        "frechet_distance": fid,
    }


def score_samples(classifier, images, reference_stats=None) -> dict:
    """Score images (N, 28, 28) in [0, 1]: recognised, class_hist, class_entropy_bits,
    inception_score, frechet_distance (to the test set; None for fewer than 2 images).

    Pass `reference_stats` (from reference_stats()) when scoring several sets: computing it
    classifies the 10k test images.
    """
    logits, features = classify(classifier, images)
    if reference_stats is None and len(features) >= 2:
        reference_stats = _reference_stats(classifier)
    return score_outputs(logits, features, reference_stats)


def sample_quality(model, latent_dim: int, sampler, classifier, reference, n: int, seed: int) -> dict:
    """The quality dict (score_samples) of n codes drawn by a fitted sampler and decoded."""
    from dae_core.analysis.latent import decode

    return score_samples(classifier, decode(model, sampler.sample(n, seed, latent_dim)), reference)


def _stored_reference(a: dict, key: dict):
    f = len(a.get("mu", ()))
    if not (f and valid_floats(a["mu"], (f,)) and valid_floats(a.get("sigma"), (f, f))):
        return None
    return a["mu"].astype(np.float64), a["sigma"].astype(np.float64)


# A classifier's (mu, sigma) of the test digits' features, keyed by the classifier file's sha256.
REFERENCE = store.Kind("reference", lambda r: {"mu": r[0], "sigma": r[1]}, _stored_reference)


def reference_of(classifier, classifier_sha256: str, hold=nullcontext):
    """reference_stats of the classifier (the file with that sha256): from the result cache, else
    computed (inside the context hold()) and kept."""
    def compute():
        with hold():
            return reference_stats(classifier)

    return store.get_or_compute(REFERENCE, None, {"classifier": classifier_sha256}, compute)


def _quality_arrays(quality: dict) -> dict:
    return {"json": np.frombuffer(json.dumps(quality, default=float).encode(), dtype=np.uint8)}


def _stored_quality(a: dict, key: dict) -> dict | None:
    if "json" not in a or a["json"].dtype != np.uint8:
        return None
    try:
        found = json.loads(a["json"].tobytes().decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return found if isinstance(found, dict) and "recognised" in found else None


# The quality dict of n samples of one sampler, scored by one classifier file.
QUALITY = store.Kind("quality", _quality_arrays, _stored_quality)


def quality_params(sampler: str, n: int, seed: int, classifier_sha256: str) -> dict:
    """What a sampler's quality dict depends on, besides the model."""
    return {"sampler": sampler, "n": int(n), "seed": int(seed), "classifier": classifier_sha256}
