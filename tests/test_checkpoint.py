"""Checkpoints: exact round trip, atomic and exclusive writes, hostile and broken files refused, names."""
import copy
import os
import pickle
import random
import threading

import pytest
import torch

from dae_core import checkpoint, files, names
from dae_core.checkpoint import CheckpointError, load, save
from dae_core.config import TrainConfig
from dae_core.model import DenoisingAutoencoder
from dae_core.train import new_state
from support import RunsShell, WritesMarker, hostile_bytes  # noqa: E402  (pytest puts tests/ on the path)


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


def _hostile_file(path, evil, writer, marker):
    path.write_bytes(hostile_bytes(marker, writer, evil, format=checkpoint.FORMAT, format_version=1))
    return path


@pytest.mark.parametrize("evil", [WritesMarker, RunsShell])
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


@pytest.mark.slow  # takes seconds
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
              "no header": "holds other data", "empty": "empty"}
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
        names.safe_path(name, tmp_path)


def test_safe_path_accepts_a_plain_name_and_refuses_an_existing_one(tmp_path):
    assert names.safe_path("my-run_1", tmp_path) == (tmp_path / "my-run_1.pt").resolve()
    (tmp_path / "taken.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="already exists"):
        names.safe_path("taken", tmp_path)
    assert names.safe_path("taken", tmp_path, overwrite=True) == (tmp_path / "taken.pt").resolve()


def test_a_folder_of_checkpoints_loads_each_or_says_why_in_one_line(tmp_path, ckpt_path, tiny_cfg):
    """What the model picker lists (a folder's *.pt, by name) loads, or fails with one line."""
    (tmp_path / "b-good.pt").write_bytes(ckpt_path.read_bytes())
    (tmp_path / "a-bad.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "notes.txt").write_text("ignored")
    bad, good = sorted(tmp_path.glob("*.pt"))
    with pytest.raises(CheckpointError) as e:
        load(bad)
    assert str(e.value).startswith("a-bad.pt ") and "\n" not in str(e.value)
    ckpt = load(good)
    assert ckpt.name == "b-good" and ckpt.config == tiny_cfg and len(ckpt.history) == 2


def test_two_saves_under_one_new_name_one_wins_the_other_is_told(tmp_path, payload):
    path, outcomes = tmp_path / "run.pt", []
    start = threading.Barrier(6)

    def save_as(i):
        start.wait()
        try:
            save({**payload, "metrics": {"writer": i}}, path, overwrite=False)
            outcomes.append(("saved", i))
        except CheckpointError as e:
            outcomes.append(("refused", str(e)))

    threads = [threading.Thread(target=save_as, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    saved = [i for what, i in outcomes if what == "saved"]
    assert len(outcomes) == 6 and len(saved) == 1
    assert all("already exists" in why for what, why in outcomes if what == "refused")
    assert load(path).metrics == {"writer": saved[0]}  # the winner's file, never overwritten
    assert _leftovers(tmp_path) == []


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

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)
    with pytest.raises(CheckpointError, match="Permission denied"):
        save(payload, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("history, words", [
    ([1, 2], "record 1 is not an epoch record"),
    ("epochs", "not a list of epochs"),
    ([{"epoch": 1, "train_loss": 0.1, "val_loss": "0.1"}], "val_loss that is not a finite number"),
    ([{"epoch": 1, "train_loss": 0.1, "val_loss": float("nan")}], "val_loss that is not a finite"),
    ([{"epoch": 1, "train_loss": 0.1}], "has no val_loss"),
    ([{"epoch": "1", "train_loss": 0.1, "val_loss": 0.1}], "epoch that is not a whole number"),
    ([{"epoch": 1, "train_loss": 0.1, "val_loss": 0.1, "stage": ["x"]}], "stage that is not"),
])
def test_a_damaged_history_is_refused_in_one_line(tmp_path, payload, history, words):
    path = _write(tmp_path, "h.pt", dict(payload, history=history))
    with pytest.raises(CheckpointError, match="h.pt has a damaged training history") as e:
        load(path)
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("metrics", [[("val_mse", 0.1)], {"val_mse": float("inf")},
                                     {"val_mse": {"nested": 1}}, {3: 0.1}, {"note": "x" * 300}])
def test_a_damaged_model_card_is_refused(tmp_path, payload, metrics):
    with pytest.raises(CheckpointError, match="damaged model card"):
        load(_write(tmp_path, "m.pt", dict(payload, metrics=metrics)))


def test_a_refined_history_with_stages_and_a_card_with_text_load(tmp_path, payload):
    history = [dict(h, stage="refine-1") for h in payload["history"]]
    metrics = {"val_mse": 0.1, "refined_from": "reference-d4", "refine_invariant": True, "seed": 3}
    ckpt = load(_write(tmp_path, "r.pt", dict(payload, history=history, metrics=metrics)))
    assert ckpt.history == history and ckpt.metrics == metrics


@pytest.mark.slow  # takes seconds
def test_resumed_adam_moments_take_their_parameters_layout(tiny_cfg, helpers):
    """A run trained where the model is plain (a GPU) resumes where it is channels-last (the CPU),
    and the other way: each moment gets its parameter's strides (CUDA's fused Adam needs them)."""
    state, _ = helpers.train(tiny_cfg)
    as_on_a_gpu = checkpoint.to_payload(state)
    for name, moments in as_on_a_gpu["optimizer"]["state"].items():
        for key, value in moments.items():
            moments[key] = value.contiguous()
    resumed = checkpoint.to_state(checkpoint.from_payload(as_on_a_gpu))
    mixed = [p for p in resumed.model.parameters() if not p.is_contiguous()]
    assert mixed  # channels-last convolutions on the CPU: the case in question
    for param in resumed.model.parameters():
        for value in resumed.optimizer.state[param].values():
            if value.shape == param.shape:
                assert value.stride() == param.stride()
    helpers.train(tiny_cfg, 1, resumed)  # and it trains on


def test_a_model_placed_off_the_cpu_is_in_the_plain_layout():
    from dae_core.device import place

    model = place(DenoisingAutoencoder(4), torch.device("cpu"))
    assert not all(p.is_contiguous() for p in model.parameters())
    moved = place(model, torch.device("meta"))
    assert all(p.is_contiguous() for p in moved.parameters())
