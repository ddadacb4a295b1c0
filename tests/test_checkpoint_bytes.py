"""load_bytes: an uploaded checkpoint's bytes pass exactly the checks load() makes on a file."""
import io
import json
import pickle
import random
from pathlib import Path

import pytest
import torch

from dae_core import checkpoint
from dae_core.checkpoint import CheckpointError, load, load_bytes
from support import hostile_bytes  # noqa: E402  (pytest puts tests/ on the path)

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
HEADER = {"format": checkpoint.FORMAT, "format_version": 1}
CHECKPOINTS = sorted(n for n in json.loads((CORPUS / "manifest.json").read_text())
                     if n.startswith("checkpoints/"))


def _refusal(load_it) -> str:
    with pytest.raises(CheckpointError) as e:
        load_it()
    return str(e.value)


def test_valid_bytes_give_the_same_model_as_the_file(ckpt_path):
    from_file, from_bytes = load(ckpt_path), load_bytes(ckpt_path.read_bytes(), "tiny.pt")
    assert from_bytes.path is None and from_bytes.config == from_file.config
    assert from_bytes.history == from_file.history and from_bytes.metrics == from_file.metrics
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(from_bytes.model(x), from_file.model(x))
    assert not from_bytes.model.training


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_hostile_bytes_are_refused_and_never_run(tmp_path, writer):
    marker = tmp_path / "pwned"
    message = _refusal(lambda: load_bytes(hostile_bytes(marker, writer, **HEADER), "evil.pt"))
    assert message.startswith("evil.pt is not a safe DAE Lab checkpoint") and "\n" not in message
    assert not marker.exists()
    # The same bytes are live: an unsafe loader does run them, so the refusal is what saves us.
    control = tmp_path / "control"
    data = hostile_bytes(control, writer, **HEADER)
    if writer == "pickle":
        pickle.loads(data)
    else:
        torch.load(io.BytesIO(data), weights_only=False)
    assert control.exists()


def test_truncated_random_and_empty_bytes_are_one_line_refusals(ckpt_path):
    good = ckpt_path.read_bytes()
    cases = {"truncated": good[: len(good) // 2], "random": random.Random(0).randbytes(4096),
             "empty": b"", "one byte": good[:1]}
    for label, data in cases.items():
        message = _refusal(lambda: load_bytes(data, f"{label}.pt"))
        assert message.startswith(f"{label}.pt ") and "\n" not in message and len(message) < 400


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_every_corpus_file_reads_as_its_file_does(name):
    path = CORPUS / name
    try:
        expected = f"loads d={load(path).config.latent_dim}"
    except CheckpointError as e:
        expected = str(e)
    try:
        got = f"loads d={load_bytes(path.read_bytes(), path.name).config.latent_dim}"
    except CheckpointError as e:
        got = str(e)
    assert got == expected


def test_a_browser_name_is_cut_to_its_last_part_on_one_line():
    message = _refusal(lambda: load_bytes(b"", "../../etc/my\nmodel\r\t.pt"))
    assert message == "my model .pt is empty"
    assert _refusal(lambda: load_bytes(b"", "")) == "upload is empty"
