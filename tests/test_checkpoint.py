"""Checkpoints: exact round trip, atomic writes, hostile and broken files refused, names, listing."""
import copy
import os
import pickle
import random
import shlex

import pytest
import torch

from dae_core import checkpoint
from dae_core.checkpoint import CheckpointError, list_checkpoints, load, safe_path, save
from dae_core.config import TrainConfig
from dae_core.model import DenoisingAutoencoder
from dae_core.train import new_state


@pytest.fixture
def payload(ckpt_path):
    """A fresh, modifiable copy of the session checkpoint's payload."""
    return copy.deepcopy(checkpoint.read_payload(ckpt_path))


def _probe():
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_save_load_gives_identical_outputs(ckpt_path, tmp_path):
    state = checkpoint.to_state(load(ckpt_path))
    state.model.eval()
    with torch.no_grad():
        before = state.model(_probe())
    again = load(checkpoint.save_state(state, tmp_path / "again.pt"))
    assert not again.model.training
    with torch.no_grad():
        assert torch.equal(again.model(_probe()), before)


def test_loaded_checkpoint_carries_config_history_and_metrics(ckpt_path, tiny_cfg):
    ckpt = load(ckpt_path)
    assert ckpt.config == tiny_cfg and ckpt.name == "tiny"
    assert [h["epoch"] for h in ckpt.history] == [1, 2]
    assert ckpt.metrics["val_mse"] == ckpt.history[-1]["val_loss"]
    assert ckpt.optimizer_state and ckpt.created


def _leftovers(folder):
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_write_is_atomic(payload, tmp_path, monkeypatch):
    path = save(payload, tmp_path / "run.pt")
    payload["metrics"] = {"note": 2.0}
    save(payload, path)  # overwrite
    assert load(path).metrics == {"note": 2.0}
    assert _leftovers(tmp_path) == []

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(CheckpointError, match="No space left"):
        save({"whatever": 1}, path)
    monkeypatch.undo()
    assert load(path).metrics == {"note": 2.0}  # the old file survived intact
    assert _leftovers(tmp_path) == []


class _WritesMarker:
    """Unpickling this calls open(marker, 'w'), which creates the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _RunsShell:
    """Unpickling this runs `touch marker` through os.system."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def _hostile_file(path, evil, writer, marker):
    obj = {"format": checkpoint.FORMAT, "format_version": 1, "x": evil(marker)}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(obj, protocol=2))
    else:
        torch.save(obj, path)
    return path


@pytest.mark.parametrize("evil", [_WritesMarker, _RunsShell])
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_hostile_pickle_is_refused_and_never_run(tmp_path, evil, writer):
    marker = tmp_path / "pwned"
    path = _hostile_file(tmp_path / "evil.pt", evil, writer, marker)
    with pytest.raises(CheckpointError) as e:
        load(path)
    assert "\n" not in str(e.value)
    assert not marker.exists()
    # The same construction is live: an unsafe loader does run it, so the refusal is what saves us.
    control = tmp_path / "control"
    path = _hostile_file(tmp_path / "control.pt", evil, writer, control)
    if writer == "pickle":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert control.exists()


def _write(tmp_path, name, data):
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        torch.save(data, path)
    return path


def _bad_files(tmp_path, ckpt_path, payload):
    good = ckpt_path.read_bytes()
    no_header = {k: v for k, v in payload.items() if k != "format"}
    wide = dict(payload, model=DenoisingAutoencoder(4, width=2).state_dict())
    nan = copy.deepcopy(payload)
    nan["model"]["encoder.fc.1.weight"][0, 0] = float("nan")
    future = dict(payload, format_version=99)
    bad_config = dict(payload, config={"latent_dim": 0})
    return {
        "random": random.Random(0).randbytes(4096),
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "no header": no_header,
        "a list": [1, 2, 3],
        "wrong shapes": wide,
        "nan weights": nan,
        "format 99": future,
        "bad config": bad_config,
        "no weights": dict(payload, model="weights"),
    }


def test_broken_files_raise_one_line_checkpoint_errors(tmp_path, ckpt_path, payload):
    for label, data in _bad_files(tmp_path, ckpt_path, payload).items():
        path = _write(tmp_path, label.replace(" ", "_") + ".pt", data)
        with pytest.raises(CheckpointError) as e:
            load(path)
        message = str(e.value)
        assert message and "\n" not in message, label
        assert len(message) < 400, label


def test_specific_messages(tmp_path, ckpt_path, payload):
    files = _bad_files(tmp_path, ckpt_path, payload)
    expect = {"format 99": "version 99", "nan weights": "NaN", "wrong shapes": "width=1",
              "no header": "header", "empty": "empty"}
    for label, text in expect.items():
        with pytest.raises(CheckpointError, match=text):
            load(_write(tmp_path, f"m{len(text)}.pt", files[label]))
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load(tmp_path / "missing.pt")


def test_other_latent_size_loads(tmp_path):
    state = new_state(TrainConfig(latent_dim=8, device="cpu"))
    ckpt = load(checkpoint.save_state(state, tmp_path / "d8.pt"))
    assert ckpt.model.latent_dim == 8 and ckpt.config.latent_dim == 8
    assert ckpt.model.encode(_probe()).shape == (4, 8)


@pytest.mark.parametrize("name", ["../x", "/etc/x", "a\x00b", "a" * 300, "", ".hidden", "a/b"])
def test_safe_path_refuses_dangerous_names(tmp_path, name):
    with pytest.raises(CheckpointError):
        safe_path(name, tmp_path)


def test_safe_path_accepts_a_plain_name_and_refuses_an_existing_one(tmp_path):
    assert safe_path("my-run_1", tmp_path) == (tmp_path / "my-run_1.pt").resolve()
    (tmp_path / "taken.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="already exists"):
        safe_path("taken", tmp_path)
    assert safe_path("taken", tmp_path, overwrite=True) == (tmp_path / "taken.pt").resolve()


def test_list_checkpoints_reports_bad_files_instead_of_raising(tmp_path, ckpt_path, tiny_cfg):
    (tmp_path / "b-good.pt").write_bytes(ckpt_path.read_bytes())
    (tmp_path / "a-bad.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "notes.txt").write_text("ignored")
    rows = list_checkpoints(tmp_path)
    assert [r.name for r in rows] == ["a-bad", "b-good"]
    bad, good = rows
    assert bad.error and bad.config == {}
    assert good.error == "" and good.config == tiny_cfg.to_dict() and len(good.history) == 2


def test_with_metrics_merges_into_the_model_card(tmp_path, ckpt_path):
    path = tmp_path / "m.pt"
    path.write_bytes(ckpt_path.read_bytes())
    checkpoint.with_metrics(path, {"test_mse": 0.5})
    metrics = load(path).metrics
    assert metrics["test_mse"] == 0.5 and "val_mse" in metrics


def test_saving_into_a_read_only_directory(tmp_path, payload):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("chmod does not stop this user (root) from writing")
        with pytest.raises(CheckpointError, match="cannot save"):
            save(payload, folder / "x.pt")
    finally:
        folder.chmod(0o755)


def test_unwritable_folder_is_a_checkpoint_error_even_as_root(tmp_path, payload, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", denied)
    with pytest.raises(CheckpointError, match="Permission denied"):
        save(payload, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
