"""Sample-quality metrics against hand-computed cases, and the generate --score-with path."""
import json
import math
import warnings

import numpy as np
import pytest
from scipy import linalg

from dae_core.analysis.quality import (
    class_entropy_bits,
    class_histogram,
    frechet_distance,
    gaussian_stats,
    inception_score,
    recognised_share,
    reference_stats,
    score_outputs,
    score_samples,
)
from dae_core.classifier import new_classifier, save_classifier
from dae_core.cli import main
from dae_core.errors import DaeError
from dae_core.paths import CHECKPOINT_DIR


def test_class_entropy_bits():
    assert class_entropy_bits([7] * 10) == pytest.approx(math.log2(10))
    assert class_entropy_bits([0, 0, 0, 42, 0, 0, 0, 0, 0, 0]) == 0.0
    assert class_entropy_bits([5, 5, 0, 0, 0, 0, 0, 0, 0, 0]) == pytest.approx(1.0)


def test_inception_score_extremes():
    one_hot = np.eye(10)
    assert inception_score(np.repeat(one_hot[[3]], 50, axis=0)) == pytest.approx(1.0)
    assert inception_score(np.repeat(one_hot, 7, axis=0)) == pytest.approx(10.0)
    assert inception_score(np.full((20, 10), 0.1)) == pytest.approx(1.0)  # confident of nothing


def test_inception_score_two_classes_by_hand():
    # Rows (0.5, 0.5) and (1, 0): p(y) = (0.75, 0.25).
    # KL1 = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25); KL2 = ln(1/0.75).
    probs = np.array([[0.5, 0.5], [1.0, 0.0]])
    kl1 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2.0)
    kl2 = math.log(1 / 0.75)
    assert inception_score(probs) == pytest.approx(math.exp((kl1 + kl2) / 2))


def test_recognised_share_and_histogram_on_hand_built_logits():
    logits = np.zeros((4, 10))
    logits[0, 2] = 10.0  # p = e^10 / (e^10 + 9) = 0.9996: recognised
    logits[1, 7] = 5.0  # p = e^5 / (e^5 + 9) = 0.943: recognised
    logits[2, 7] = 3.0  # p = e^3 / (e^3 + 9) = 0.691: not
    # row 3: all equal, p = 0.1: not
    q = score_outputs(logits, np.zeros((4, 3)))
    assert q["recognised"] == 0.5
    assert q["class_hist"] == [1, 0, 1, 0, 0, 0, 0, 2, 0, 0]  # argmax of a tie is class 0
    assert q["n"] == 4 and q["frechet_distance"] is None
    probs = np.array([[0.9, 0.1], [0.89, 0.11]])
    assert recognised_share(probs) == 0.5
    assert list(class_histogram(probs, 2)) == [2, 0]


def test_frechet_distance_of_a_set_to_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(500, 8))
    stats = gaussian_stats(f)
    assert frechet_distance(*stats, *stats) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.
    assert frechet_distance(1.0, 4.0, -2.0, 9.0) == pytest.approx(9.0 + (2.0 - 3.0) ** 2)
    # Diagonal: ||mu1 - mu2||^2 + sum(v1 + v2 - 2 sqrt(v1 v2)).
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1.0 + 4.0 + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)
    # Full, non-commuting: Tr((S1 S2)^1/2) = Tr((S1^1/2 S2 S1^1/2)^1/2), the symmetric form.
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 5, 5))
    s1, s2 = a @ a.T + np.eye(5), b @ b.T + np.eye(5)
    r1 = linalg.sqrtm(s1).real
    expected = np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(r1 @ s2 @ r1).real)
    assert frechet_distance(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_with_singular_covariances():
    f = np.random.default_rng(2).normal(size=(300, 4))
    f = np.hstack([f, f[:, :1], np.zeros((300, 2))])  # a copied column and dead units: rank 4 of 7
    g = f + np.array([1.0, 0, 0, 0, 1.0, 0, 0])
    with warnings.catch_warnings():  # the singular product is handled, not warned about
        warnings.simplefilter("error", linalg.LinAlgWarning)
        same = frechet_distance(*gaussian_stats(f), *gaussian_stats(f))
        shifted = frechet_distance(*gaussian_stats(f), *gaussian_stats(g))
    assert same == pytest.approx(0.0, abs=1e-4)
    assert shifted == pytest.approx(2.0, abs=1e-4)  # same covariance: only the means differ


def test_frechet_distance_refuses_mismatched_sizes():
    with pytest.raises(DaeError, match="different sizes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


@pytest.mark.slow  # takes seconds
def test_score_samples_end_to_end_with_an_untrained_classifier():
    clf = new_classifier(0)
    rng = np.random.default_rng(0)
    images = rng.random((64, 28, 28), dtype=np.float32)
    ref = reference_stats(clf, (rng.random((100, 28, 28)) * 255).astype(np.uint8))
    q = score_samples(clf, images, ref)
    assert set(q) == {"n", "recognised", "class_hist", "class_entropy_bits", "inception_score",
                      "frechet_distance"}
    assert q["n"] == 64 and sum(q["class_hist"]) == 64
    assert 1.0 - 1e-9 <= q["inception_score"] <= 10.0 + 1e-9
    assert 0.0 <= q["class_entropy_bits"] <= math.log2(10) + 1e-9
    assert math.isfinite(q["frechet_distance"]) and q["frechet_distance"] >= -1e-6
    assert score_samples(clf, images, (ref[0], ref[1]))["frechet_distance"] == q["frechet_distance"]
    assert score_samples(clf, images[:1], ref)["frechet_distance"] is None
    with pytest.raises(DaeError, match="shape"):
        score_samples(clf, np.zeros((3, 32, 32)), ref)


REFERENCE = str(CHECKPOINT_DIR / "reference-d4.pt")


@pytest.mark.slow  # scores 1000 generated digits
def test_cli_generate_score_with(tmp_path, capsys):
    clf = save_classifier(new_classifier(0), tmp_path / "clf.pt")
    out = tmp_path / "g.npy"
    rc = main(["generate", "--checkpoint", REFERENCE, "--n", "12", "--out", str(out),
               "--score-with", str(clf), "--json"])
    assert rc == 0
    q = json.loads(capsys.readouterr().out)["quality"]
    assert q["n"] == 12 and math.isfinite(q["frechet_distance"])
    assert main(["generate", "--checkpoint", REFERENCE, "--n", "2", "--out", str(out),
                 "--score-with", str(tmp_path / "absent.pt")]) == 2
