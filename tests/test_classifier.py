"""The digit classifier: shapes, training on the shared engine lowers the loss, save / load round trip,
unsafe files refused."""
import json
from dataclasses import replace

import pytest
import torch

from dae_core import checkpoint
from dae_core.checkpoint import FORMAT, CheckpointError
from dae_core.classifier import (DigitClassifier, classifier_config, load_classifier, new_classifier,
                                 random_shift, save_classifier, train_classifier)
from dae_core.cli import main
from dae_core.config import TrainConfig
from dae_core.data import load_digits, to_float
from dae_core.paths import CHECKPOINT_DIR
from dae_core.train import BatchStats, EpochStats, TrainData
from support import hostile_bytes  # noqa: E402  (pytest puts tests/ on the path)

HEADER = {"format": FORMAT, "format_version": 1, "kind": "classifier"}


@pytest.fixture(scope="module")
def tiny_data():
    d = load_digits("mnist")
    return TrainData(to_float(d.train_images[:512]), to_float(d.test_images[:64]),
                     d.train_labels[:512], d.test_labels[:64])


def test_shapes():
    model = new_classifier(0).eval()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, model.hidden)


def test_same_seed_same_initial_weights_and_global_rng_untouched():
    state = torch.get_rng_state()
    a, b = new_classifier(3), new_classifier(3)
    assert torch.equal(torch.get_rng_state(), state)
    for (_, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb)


def test_random_shift_moves_whole_images():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0  # a square well away from the border
    g = torch.Generator().manual_seed(0)
    assert torch.equal(random_shift(x, 0, g), x)
    y = random_shift(x, 2, g)
    assert y.shape == x.shape
    assert torch.equal(y.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # nothing cut off, nothing added


@pytest.mark.slow  # trains for seconds
def test_tiny_training_on_the_engine_lowers_the_loss(tiny_data):
    rng = torch.get_rng_state()
    state, events = train_classifier(replace(classifier_config(epochs=3), batch_size=64), tiny_data)
    events = list(events)
    assert torch.equal(torch.get_rng_state(), rng)  # dropout masks came from a forked RNG
    batches = [e for e in events if isinstance(e, BatchStats)]  # the autoencoder's stats types
    epochs = [e for e in events if isinstance(e, EpochStats)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert batches[-1].loss < batches[0].loss - 0.15  # 24 steps: from ln 10 = 2.30 to about 2.0
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert all(0.0 <= e.val_accuracy <= 1.0 for e in epochs)
    assert state.history[-1]["val_accuracy"] == epochs[-1].val_accuracy


@pytest.mark.slow  # takes seconds
def test_training_is_reproducible(tiny_data):
    small = TrainData(tiny_data.x_train[:128], tiny_data.x_val[:16], tiny_data.y_train[:128],
                      tiny_data.y_val[:16])
    rng = torch.get_rng_state()
    models = []
    for _ in range(2):
        state, events = train_classifier(replace(classifier_config(epochs=1, seed=5), batch_size=32), small)
        for _ in events:
            torch.rand(3)  # the caller's own draws between events change nothing
        models.append(state.model)
    a, b = models
    assert all(torch.equal(va, vb) for va, vb in zip(a.state_dict().values(), b.state_dict().values()))
    torch.set_rng_state(rng)


def test_save_load_gives_identical_logits(tmp_path):
    model = new_classifier(1).eval()
    x = torch.rand(8, 1, 28, 28)
    path = save_classifier(model, tmp_path / "clf.pt", {"test_accuracy": 0.5}, [{"epoch": 1}])
    loaded = load_classifier(path)
    assert isinstance(loaded, DigitClassifier) and not loaded.training
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    assert loaded.metrics == {"test_accuracy": 0.5} and loaded.history == [{"epoch": 1}]
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file


def test_hostile_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pt").write_bytes(hostile_bytes(tmp_path / "pwned_by_classifier", "torch.save", **HEADER))
    with pytest.raises(CheckpointError, match="not a safe DAE Lab classifier") as err:
        load_classifier(tmp_path / "evil.pt")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "pwned_by_classifier").exists()


@pytest.mark.parametrize("payload, message", [
    ({"format": "something-else", "format_version": 1}, "it holds other data"),
    ({"format": FORMAT, "format_version": 1}, "kind 'autoencoder'"),  # an autoencoder's header
    ({**HEADER, "format_version": 99}, "format version 99"),
    ({**HEADER, "arch": "x"}, "bad architecture"),
    ({**HEADER, "arch": {"channels": [16, 32], "hidden": 128},
      "model": {"head.1.weight": torch.zeros(3, 3)}}, "does not match"),
])
def test_wrong_files_are_refused(tmp_path, payload, message):
    torch.save(payload, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=message):
        load_classifier(tmp_path / "x.pt")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(CheckpointError, match="no classifier file"):
        load_classifier(tmp_path / "absent.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_classifier(tmp_path / "empty.pt")


def test_nan_weights_are_refused(tmp_path):
    model = new_classifier(0)
    with torch.no_grad():
        model.head[1].bias[0] = float("nan")
    save_classifier(model, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="NaN"):
        load_classifier(tmp_path / "nan.pt")


@pytest.mark.slow  # takes seconds
def test_cli_train_classifier_smoke(tmp_path, capsys):
    out = tmp_path / "clf.pt"
    assert main(["train-classifier", "--out", str(out), "--epochs", "1", "--subset", "256", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == str(out) and 0.0 <= result["test_accuracy"] <= 1.0
    assert load_classifier(out).metrics["test_accuracy"] == result["test_accuracy"]


def test_the_autoencoder_loader_refuses_a_classifier_file(tmp_path):
    path = save_classifier(new_classifier(0), tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="kind 'classifier'; expected 'autoencoder'"):
        checkpoint.load(path)


def test_the_shipped_classifier_loads_with_its_recipe_and_scores():
    clf = load_classifier(CHECKPOINT_DIR / "classifiers" / "mnist-cnn.pt")
    assert clf.metrics["test_accuracy"] == pytest.approx(0.9907)
    payload = checkpoint.read_payload(CHECKPOINT_DIR / "classifiers" / "mnist-cnn.pt", kind="classifier")
    assert TrainConfig.from_dict(payload["config"]) == classifier_config()
