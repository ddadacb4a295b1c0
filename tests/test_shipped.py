"""Every shipped checkpoint loads on PyTorch's layers and scores what its model card says."""
from pathlib import Path

import pytest

from dae_core import checkpoint as ckpt_io
from dae_core.analysis.latent import class_dims_of
from dae_core.analysis.pipeline import cluster_codes, encode_splits
from dae_core.evaluate import evaluate
from dae_core.paths import CHECKPOINT_DIR

pytestmark = pytest.mark.slow  # each model scored on the full validation, test and training sets

SHIPPED = sorted(CHECKPOINT_DIR.glob("*.pt"))
README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_shipped_models_are_there():
    assert {p.stem for p in SHIPPED} >= {"reference-d4", "denoise-d10", "cluster-d10-refined", "split-d22"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_reconstruction_error_matches_the_model_card(path):
    ck = ckpt_io.load(path)
    scores = evaluate(ck.model, ck.config)
    assert scores["val_mse"] == pytest.approx(ck.metrics["val_mse"], abs=1e-4)
    if "test_mse" in ck.metrics:
        assert scores["test_mse"] == pytest.approx(ck.metrics["test_mse"], abs=1e-4)


@pytest.mark.parametrize("path", [p for p in SHIPPED if "kmeans_accuracy" in ckpt_io.load(p).metrics],
                         ids=lambda p: p.stem)
def test_kmeans_accuracy_matches_the_model_card(path):
    """Train and test accuracy; the test codes keep the training codes' cluster -> digit matching."""
    ck = ckpt_io.load(path)
    result = cluster_codes(encode_splits(ck.model, ck.config), 10, "kmeans", seed=0,
                           class_dims=class_dims_of(ck.model))  # a split model: its digit part
    assert result.train.accuracy == pytest.approx(ck.metrics["kmeans_accuracy"], abs=1e-3)
    if "kmeans_test_accuracy" in ck.metrics:
        assert result.test.accuracy == pytest.approx(ck.metrics["kmeans_test_accuracy"], abs=1e-3)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_readme_shows_the_model_cards_test_accuracies(path):
    """The README's row of a model shows each test accuracy its card records (3 decimals)."""
    rows = [line for line in README.read_text().splitlines() if line.startswith(f"| `{path.stem}`")]
    assert len(rows) == 1
    for name, value in ckpt_io.load(path).metrics.items():
        if name.endswith("_test_accuracy"):
            assert f"{value:.3f}" in rows[0], (name, value)
