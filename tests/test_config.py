"""TrainConfig: reference defaults, validation naming the field, from_dict, frozen."""
import dataclasses
import math

import pytest

from dae_core import ConfigError, DaeError, TrainConfig
from dae_core.config import LABELS, PRESETS, preset


def test_defaults_are_the_reference_run():
    cfg = TrainConfig()
    assert (cfg.latent_dim, cfg.noise, cfg.noise_strength) == (4, "gaussian", 0.3)
    assert (cfg.epochs, cfg.lr, cfg.batch_size) == (30, 1e-3, 256)
    assert (cfg.val_fraction, cfg.seed, cfg.schedule) == (0.2, 0, "constant")
    assert preset("reference") == cfg


def test_quick_preset_changes_only_the_schedule_and_its_length():
    quick, ref = preset("quick").to_dict(), TrainConfig().to_dict()
    changed = {k for k in ref if quick[k] != ref[k]}
    assert changed == {"epochs", "lr", "schedule"}  # same model, noise, loss, batch and data
    assert (quick["epochs"], quick["schedule"]) == (10, "onecycle") and quick["lr"] > ref["lr"]


def test_flags_given_with_a_preset_override_it_and_are_validated():
    assert preset("quick", epochs=12, latent_dim=8) == TrainConfig(**{**PRESETS["quick"], "epochs": 12,
                                                                       "latent_dim": 8})
    with pytest.raises(ConfigError, match="lr"):
        preset("quick", lr=0.0)
    with pytest.raises(ConfigError, match="preset"):
        preset("fast")


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("epochs", -1), ("epochs", 10**9),
    ("lr", 0.0), ("lr", -1e-3), ("lr", math.nan), ("lr", 100.0),
    ("batch_size", 0), ("latent_dim", 0), ("noise", "foo"), ("device", "tpu"),
    ("latent_dim", True), ("epochs", 2.0), ("val_fraction", 0.0), ("width", 0),
    ("schedule", "linear"),
])
def test_bad_value_raises_config_error_naming_the_field(field, value):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{field: value})
    assert str(e.value).startswith(f"{LABELS[field]} ({field}) must be ")  # the form's label, the flag's name
    assert isinstance(e.value, DaeError) and isinstance(e.value, ValueError)


@pytest.mark.parametrize("changes, message", [
    ({"lr": -0.01}, "Learning rate (lr) must be above 0 and at most 10; you entered -0.01"),
    ({"lr": 0.0}, "Learning rate (lr) must be above 0 and at most 10; you entered 0"),
    ({"lr": math.inf}, "Learning rate (lr) must be a finite number; you entered inf"),
    ({"epochs": 0}, "Epochs (epochs) must be between 1 and 10,000; you entered 0"),
    ({"epochs": 2.5}, "Epochs (epochs) must be a whole number; you entered 2.5"),
    ({"val_fraction": 0.95}, "Validation fraction (val_fraction) must be above 0 and at most 0.9; you entered 0.95"),
    ({"noise": "mask", "noise_strength": 1.5},
     "Noise strength (noise_strength) must be between 0 and 1 for mask noise; you entered 1.5"),
    ({"schedule": "linear"}, "Schedule (schedule) must be one of constant, onecycle, cosine; you entered 'linear'"),
])
def test_a_message_says_the_field_the_rule_and_the_value_entered(changes, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**changes)
    assert str(e.value) == message


def test_every_field_has_a_label():
    assert set(LABELS) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("noise, strength", [("gaussian", -1.0), ("salt_pepper", 2.0), ("mask", 1.5)])
def test_bad_noise_strength_is_refused(noise, strength):
    with pytest.raises(ConfigError, match="noise_strength"):
        TrainConfig(noise=noise, noise_strength=strength)


def test_edge_values_are_accepted():
    TrainConfig(noise="salt_pepper", noise_strength=1.0, epochs=1, lr=10.0, latent_dim=1)
    TrainConfig(noise="gaussian", noise_strength=0.0)


def test_a_changed_copy_is_validated():
    assert dataclasses.replace(TrainConfig(), epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="epochs"):
        dataclasses.replace(TrainConfig(), epochs=0)


def test_dict_round_trip():
    cfg = TrainConfig(latent_dim=8, noise="mask", noise_strength=0.5, seed=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"latent_dim": 2}) == TrainConfig(latent_dim=2)


def test_from_dict_refuses_unknown_keys_and_non_dicts():
    with pytest.raises(ConfigError, match="hidden_units"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), "hidden_units": 3})
    with pytest.raises(ConfigError):
        TrainConfig.from_dict(["latent_dim", 4])


def test_frozen():
    cfg = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 5
