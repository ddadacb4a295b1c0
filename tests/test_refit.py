"""Decoder refit on tiny data: the codes do not move, the decoder learns, the command line."""
import copy
import json

import numpy as np
import pytest
import torch

from dae_core import checkpoint as ckpt_io
from dae_core.analysis.latent import encode
from dae_core.cli import main
from dae_core.config import TrainConfig
from dae_core.errors import DaeError
from dae_core.refit import refit_decoder
from dae_core.train import fit, new_state, prepare_data


@pytest.fixture(scope="module")
def tiny():
    cfg = TrainConfig(train_subset=400, epochs=1, batch_size=64, device="cpu")
    state = new_state(cfg)
    data = prepare_data(cfg, state.device)
    list(fit(state, data))  # a trained encoder, with BatchNorm statistics of its own
    return state, data


@pytest.mark.slow  # takes seconds
def test_refit_leaves_every_code_and_encoder_buffer_as_it_was(tiny):
    state, data = copy.deepcopy(tiny[0]), tiny[1]
    z_before = encode(state.model, data.x_val)
    encoder_before = copy.deepcopy(state.model.encoder.state_dict())
    decoder_before = copy.deepcopy(state.model.decoder.state_dict())
    stats = list(refit_decoder(state, data, epochs=2, lr=1e-2))
    assert [s.epoch for s in stats] == [1, 2]
    np.testing.assert_array_equal(encode(state.model, data.x_val), z_before)
    for name, t in state.model.encoder.state_dict().items():  # running means included
        assert torch.equal(t, encoder_before[name]), name
    assert any(not torch.equal(t, decoder_before[k]) for k, t in state.model.decoder.state_dict().items())
    assert all(p.requires_grad for p in state.model.parameters())  # still trainable as a whole
    assert [h["stage"] for h in state.history[-2:]] == ["refit-decoder"] * 2


@pytest.mark.slow  # takes seconds
def test_a_fresh_decoder_learns_to_reconstruct(tiny):
    state, data = copy.deepcopy(tiny[0]), tiny[1]
    stats = list(refit_decoder(state, data, epochs=4, lr=1e-2, fresh=True))
    assert stats[-1].val_loss < stats[0].val_loss
    assert all(np.isfinite(s.train_loss) for s in stats)


@pytest.mark.slow  # takes seconds
def test_fresh_redraws_the_decoder_from_the_seed(tiny):
    a, b = copy.deepcopy(tiny[0]), copy.deepcopy(tiny[0])
    list(refit_decoder(a, tiny[1], epochs=1, fresh=True, seed=3))
    list(refit_decoder(b, tiny[1], epochs=1, fresh=True, seed=3))
    assert all(torch.equal(p, q) for p, q in zip(a.model.decoder.parameters(), b.model.decoder.parameters()))


def test_refit_refuses_impossible_settings(tiny):
    with pytest.raises(DaeError, match="epochs"):
        list(refit_decoder(copy.deepcopy(tiny[0]), tiny[1], epochs=0))


@pytest.mark.slow  # takes seconds
def test_cli_refit_keeps_the_clustering_card_and_records_the_new_mse(tmp_path, capsys):
    src, out = tmp_path / "a.pt", tmp_path / "b.pt"
    assert main(["train", "--train-subset", "300", "--epochs", "1", "--batch-size", "64",
                 "--out", str(src), "--json"]) == 0
    ckpt_io.with_metrics(src, {"umap-gmm_accuracy": 0.9})
    capsys.readouterr()
    assert main(["refit-decoder", "--checkpoint", str(src), "--out", str(out), "--epochs", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    card = ckpt_io.load(out).metrics
    assert card["refit_from"] == "a" and card["umap-gmm_accuracy"] == 0.9
    assert card["val_mse"] == result["val_mse"] == ckpt_io.load(out).history[-1]["val_loss"]
    assert main(["refit-decoder", "--checkpoint", str(src), "--out", str(out), "--epochs", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
