"""The split-code autoencoder on tiny data: shapes, the jitter, training, save and load."""
import numpy as np
import pytest
import torch

from dae_core import checkpoint as ckpt_io
from dae_core.analysis.latent import encode
from dae_core.config import TrainConfig
from dae_core.data import training_split
from dae_core.errors import CheckpointError, ConfigError
from dae_core.split import SplitAutoencoder, SplitConfig
from dae_core.split_train import UNLABELLED, fit_split, new_split_state, stroke_jitter, swap_loss, view
from dae_core.train import prepare_data

SPLIT = SplitConfig(n_classes=10, style_dim=3)


@pytest.fixture(scope="module")
def trained():
    cfg = TrainConfig(latent_dim=13, train_subset=600, epochs=3, batch_size=64, lr=3e-3, device="cpu")
    state = new_split_state(cfg, SPLIT)
    data = prepare_data(cfg, state.device)
    targets = training_split(cfg).train_labels.numpy().copy()  # any clustering will do on tiny data
    targets[::5] = UNLABELLED  # points the clustering was unsure of
    stats = list(fit_split(state, data, targets, SPLIT))
    return state, data, stats


def test_codes_are_class_probabilities_then_style():
    model = SplitAutoencoder(SPLIT).eval()
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (5, 13) and model.decode(z).shape == (5, 1, 28, 28)
    assert model.class_dims == list(range(10)) and model.style_dims == [10, 11, 12]
    torch.testing.assert_close(z[:, model.class_dims].sum(dim=1), torch.ones(5))
    assert (z[:, model.class_dims] >= 0).all()


def test_stroke_jitter_thickens_and_thins_within_the_image_range():
    x = torch.zeros(2, 1, 28, 28)
    x[:, :, 10:18, 13:15] = 1.0
    g = torch.Generator().manual_seed(0)
    out = stroke_jitter(x.repeat(50, 1, 1, 1), 1.0, g)
    ink = out.sum(dim=(1, 2, 3))
    assert (ink > x[0].sum() + 1).any() and (ink < x[0].sum() - 1).any()
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(stroke_jitter(x, 0.0), x)


def test_a_plain_share_of_the_batch_is_left_as_it_comes():
    x = torch.rand(8, 1, 28, 28)
    out = view(x, SplitConfig(plain=0.5, view_augment=1.0, stroke=0.5), torch.Generator().manual_seed(0))
    assert torch.equal(out[:4], x[:4])
    assert all(not torch.equal(out[i], x[i]) for i in range(4, 8))


def test_the_swap_loss_trains_the_decoder_and_leaves_the_judging_encoder_alone():
    model = SplitAutoencoder(SPLIT).train()
    logits, style = model.heads(torch.rand(6, 1, 28, 28))
    stats = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    loss = swap_loss(model, logits.softmax(dim=1).detach(), style, torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.item() > 0 and model.encoder.training  # its mode is given back
    assert all(p.grad is None for p in model.encoder.parameters())  # the style is detached too
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in stats.items()
               if "running" in k)  # the judge, in eval mode, moved no BatchNorm statistics


@pytest.mark.slow  # the module's split model trains for seconds
def test_training_lowers_both_losses(trained):
    state, _, stats = trained
    assert [s.epoch for s in stats] == [1, 2, 3]
    assert stats[-1].recon_loss < stats[0].recon_loss
    assert stats[-1].class_loss < stats[0].class_loss
    assert [h["stage"] for h in state.history] == ["split"] * 3


@pytest.mark.slow  # the module's split model trains for seconds
def test_save_and_load_give_the_same_codes_and_the_parts(trained, tmp_path):
    state, data, _ = trained
    path = ckpt_io.save(ckpt_io.to_payload(state, {"val_mse": 0.5}), tmp_path / "split.pt")
    loaded = ckpt_io.load(path)
    assert isinstance(loaded.model, SplitAutoencoder)
    assert loaded.parts == {"class": list(range(10)), "style": [10, 11, 12]}
    assert loaded.model.split_config == SPLIT
    np.testing.assert_allclose(encode(loaded.model, data.x_val), encode(state.model, data.x_val), atol=1e-6)
    payload = torch.load(path, weights_only=True)  # plain data only
    assert payload["parts"]["style"] == [10, 11, 12] and payload["split"]["style_dim"] == 3


def test_a_reference_checkpoint_still_loads_without_parts(ckpt_path):
    loaded = ckpt_io.load(ckpt_path)
    assert loaded.parts == {} and not isinstance(loaded.model, SplitAutoencoder)


@pytest.mark.slow  # the module's split model trains for seconds
def test_a_split_record_that_does_not_fit_the_latent_size_is_refused(trained, tmp_path):
    payload = ckpt_io.to_payload(trained[0])
    payload["split"]["style_dim"] = 5
    path = ckpt_io.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="does not match its latent size"):
        ckpt_io.load(path)


def test_impossible_split_settings_are_named():
    with pytest.raises(ConfigError, match="style_dim"):
        SplitConfig(style_dim=-1)
    with pytest.raises(ConfigError, match="latent_dim"):
        new_split_state(TrainConfig(latent_dim=4, device="cpu"), SPLIT)


@pytest.mark.slow  # the module's split model trains for seconds
def test_targets_of_another_length_are_refused(trained):
    state, data, _ = trained
    with pytest.raises(ConfigError, match="one cluster target per training image"):
        next(fit_split(state, data, np.zeros(3, np.int64), SPLIT))
