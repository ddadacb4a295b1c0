"""The digit classifier: shapes, training lowers the loss, save / load round trip, unsafe files refused."""
import json
import os

import pytest
import torch

from dae_core.checkpoint import CheckpointError
from dae_core.classifier import (FORMAT, ClassifierBatch, ClassifierData, ClassifierEpoch, DigitClassifier,
                                 fit_classifier, load_classifier, new_classifier, random_shift,
                                 save_classifier)
from dae_core.cli import main
from dae_core.data import load_digits, to_float


@pytest.fixture(scope="module")
def tiny_data():
    d = load_digits("mnist")
    return ClassifierData(to_float(d.train_images[:512]), d.train_labels[:512],
                          to_float(d.test_images[:64]), d.test_labels[:64])


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


def test_tiny_training_lowers_the_loss(tiny_data):
    state = torch.get_rng_state()
    events = list(fit_classifier(new_classifier(0), tiny_data, epochs=3, seed=0, batch_size=64,
                                 report_every=2))
    assert torch.equal(torch.get_rng_state(), state)  # dropout masks came from a forked RNG
    batches = [e for e in events if isinstance(e, ClassifierBatch)]
    epochs = [e for e in events if isinstance(e, ClassifierEpoch)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert batches[-1].loss < batches[0].loss - 0.15  # 24 steps: from ln 10 = 2.30 to about 2.0
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert all(0.0 <= e.test_accuracy <= 1.0 for e in epochs)


def test_training_is_reproducible(tiny_data):
    small = ClassifierData(tiny_data.x_train[:128], tiny_data.y_train[:128],
                           tiny_data.x_test[:16], tiny_data.y_test[:16])
    state = torch.get_rng_state()
    a, b = new_classifier(0), new_classifier(0)
    for model in (a, b):
        for _ in fit_classifier(model, small, epochs=1, seed=5, batch_size=32):
            torch.rand(3)  # the caller's own draws between events change nothing
    assert all(torch.equal(va, vb) for va, vb in zip(a.state_dict().values(), b.state_dict().values()))
    torch.set_rng_state(state)


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


class _Exploit:
    def __reduce__(self):
        return os.system, ("touch pwned_by_classifier",)


def test_hostile_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": FORMAT, "format_version": 1, "model": _Exploit()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a safe DAE Lab classifier") as err:
        load_classifier(tmp_path / "evil.pt")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "pwned_by_classifier").exists()


@pytest.mark.parametrize("payload, message", [
    ({"format": "dae-lab-checkpoint", "format_version": 1}, "no 'dae-lab-classifier' header"),
    ({"format": FORMAT, "format_version": 99}, "format version 99"),
    ({"format": FORMAT, "format_version": 1, "arch": "x"}, "bad architecture"),
    ({"format": FORMAT, "format_version": 1, "arch": {"channels": [16, 32], "hidden": 128},
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


def test_cli_train_classifier_smoke(tmp_path, capsys):
    out = tmp_path / "clf.pt"
    assert main(["train-classifier", "--out", str(out), "--epochs", "1", "--subset", "256", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == str(out) and 0.0 <= result["test_accuracy"] <= 1.0
    assert load_classifier(out).metrics["test_accuracy"] == result["test_accuracy"]
