"""Cluster-guided fine-tuning on tiny data: pseudo-label filtering, history, CLI."""
import copy
import json

import numpy as np
import pytest
import torch

from dae_core import checkpoint as ckpt_io
from dae_core.analysis.cluster import neighbour_agreement, pseudo_labels
from dae_core.cli import main
from dae_core.config import TrainConfig
from dae_core.errors import DaeError
from dae_core.refine import RefineStats, RoundStart, align_labels, refine
from dae_core.train import new_state, prepare_data


def test_neighbour_agreement_on_two_blobs_with_one_mislabelled_point():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    labels = np.repeat([0, 1], 20)
    labels[3] = 1  # sits among the 0s
    agree = neighbour_agreement(z, labels, n_neighbors=5)
    assert agree[3] == 0.0
    assert agree[20:].min() == 1.0


def test_pseudo_labels_trust_only_confident_agreeing_points():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(c, 0.2, (50, 2)) for c in (0, 4, 8)])
    labels, mask, seconds = pseudo_labels(z, 3, "gmm", 0, threshold=0.9, agreement=0.9)
    assert labels.shape == mask.shape == (150,)
    assert mask.mean() > 0.9 and "neighbours" in seconds
    _, strict, _ = pseudo_labels(z, 3, "gmm", 0, threshold=1.01, agreement=0.9)
    assert not strict.any()


def test_align_labels_undoes_a_permutation_of_cluster_ids():
    rng = np.random.default_rng(2)
    reference = rng.integers(0, 4, 200)
    permuted = np.array([2, 0, 3, 1])[reference]
    permuted[:10] = rng.integers(0, 4, 10)  # a few points that changed cluster
    aligned = align_labels(reference, permuted)
    assert (aligned[10:] == reference[10:]).all()
    assert sorted(np.unique(aligned)) == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def tiny():
    cfg = TrainConfig(train_subset=400, epochs=1, batch_size=64, device="cpu")
    state = new_state(cfg)
    return state, prepare_data(cfg, state.device)


@pytest.mark.slow  # takes seconds
def test_refine_appends_marked_history_and_changes_the_encoder(tiny):
    state, data = tiny
    before = [p.detach().clone() for p in state.model.encoder.parameters()]
    events = list(refine(state, data, k=3, rounds=1, epochs=2, methods=("kmeans",),
                         threshold=0.0, agreement=0.0))
    assert isinstance(events[0], RoundStart) and events[0].confident == 1.0
    assert [e.epoch for e in events if isinstance(e, RefineStats)] == [1, 2]
    assert [h["stage"] for h in state.history[-2:]] == ["refine-1", "refine-1"]
    assert all(np.isfinite(h["val_loss"]) for h in state.history)
    assert any(not (a == b).all() for a, b in zip(before, state.model.encoder.parameters()))


def test_refine_refuses_impossible_settings(tiny):
    state, data = tiny
    with pytest.raises(DaeError, match="rounds"):
        list(refine(state, data, rounds=0))


@pytest.mark.slow  # takes seconds
def test_cli_refine_writes_a_loadable_checkpoint(tmp_path, capsys):
    src, out = tmp_path / "a.pt", tmp_path / "b.pt"
    assert main(["train", "--train-subset", "300", "--epochs", "1", "--batch-size", "64",
                 "--out", str(src), "--json"]) == 0
    capsys.readouterr()
    assert main(["refine", "--checkpoint", str(src), "--out", str(out), "--k", "3", "--rounds", "1",
                 "--epochs", "1", "--methods", "kmeans", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["history"][-1]["stage"] == "refine-1"
    assert ckpt_io.load(out).metrics["refined_from"] == "a"


def _refined_weights(tiny, **kwargs):
    state = copy.deepcopy(tiny[0])
    list(refine(state, tiny[1], k=3, rounds=1, epochs=1, methods=("kmeans",), threshold=0.0,
                agreement=0.0, **kwargs))
    return [p.detach() for p in state.model.parameters()]


@pytest.mark.slow  # trains for seconds
def test_invariant_changes_only_the_reconstruction_target_of_jittered_images(tiny):
    """Without jitter the clean and the jittered image are one: invariant makes no difference."""
    plain = _refined_weights(tiny, augment=0.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, _refined_weights(tiny, augment=0.0,
                                                                           invariant=True)))
    jittered = _refined_weights(tiny, augment=1.0)
    assert all(torch.equal(a, b) for a, b in zip(jittered, _refined_weights(tiny, augment=1.0)))
    assert not all(torch.equal(a, b) for a, b in zip(jittered, _refined_weights(
        tiny, augment=1.0, invariant=True)))
