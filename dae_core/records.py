"""Checks of the records a checkpoint carries: its training history, its model card and the
optimizer state that resuming loads.

All come from a file that may be hostile: every value must be a finite number, yes/no or short
text (tensors of the right shape, for the optimizer), so that the pages can plot and print them
as they are and training can go on from them.
"""
from __future__ import annotations

import torch

from dae_core.config import finite_float
from dae_core.errors import CheckpointError

_EPOCH_NUMBERS = ("epoch", "train_loss", "val_loss")  # in every epoch record: the figures plot them
MAX_EPOCH = 10**9  # far past any run (a run has at most 10,000 epochs), and exact as a float


def checked_history(payload: dict, label: str) -> list[dict]:
    """The payload's history: a list of epoch records, each a dict of short names to finite
    numbers (a whole epoch number first of all) or short text; a one-line CheckpointError
    naming the first bad record otherwise."""
    history = payload.get("history", [])
    if not isinstance(history, list):
        raise CheckpointError(f"{label} has a damaged training history (it is not a list of "
                              "epochs); nothing was loaded")
    for i, entry in enumerate(history, 1):
        problem = _record_problem(entry)
        if problem:
            raise CheckpointError(f"{label} has a damaged training history (record {i} {problem}); "
                                  "nothing was loaded")
    return history


def _record_problem(entry) -> str | None:
    if not isinstance(entry, dict) or not all(isinstance(k, str) and len(k) <= 64 for k in entry):
        return "is not an epoch record"
    missing = [k for k in _EPOCH_NUMBERS if k not in entry]
    if missing:
        return f"has no {missing[0]}"
    epoch = entry["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch <= MAX_EPOCH:
        return f"has an epoch that is not a whole number from 1 to {MAX_EPOCH:,}"
    bad = next((k for k, v in entry.items() if not _plain_value(v, text=k not in _EPOCH_NUMBERS)), None)
    return f"has a {_key(bad)} that is not a finite number" if bad else None


def checked_metrics(payload: dict, label: str) -> dict:
    """The payload's model card: a dict of short names to finite numbers, yes/no or short text."""
    metrics = payload.get("metrics", {})
    if not isinstance(metrics, dict) or not all(isinstance(k, str) and len(k) <= 64 for k in metrics):
        raise CheckpointError(f"{label} has a damaged model card (not a table of named values); "
                              "nothing was loaded")
    bad = next((k for k, v in metrics.items() if not _plain_value(v, text=True)), None)
    if bad is not None:
        raise CheckpointError(f"{label} has a damaged model card (its {_key(bad)} is not a finite number, "
                              "yes/no or a short text); nothing was loaded")
    return metrics


def _plain_value(value, text: bool) -> bool:
    """A finite int or float (a bool only when `text` allows other kinds), or text up to 200."""
    if isinstance(value, bool) or isinstance(value, str):
        return text and (isinstance(value, bool) or len(value) <= 200)
    return finite_float(value) is not None


def _key(key: str) -> str:
    """A record's key (text of up to 64 characters, checked) on one line, for a message."""
    return " ".join(key.split()) or repr(key)


def check_optimizer(opt: torch.optim.Adam, label: str) -> None:
    """After `opt.load_state_dict(...)` from a file: each parameter's state is what Adam keeps (a
    float32 step count from 0 up; finite moments of the parameter's shape and dtype, the second
    one from 0 up); a one-line CheckpointError otherwise. Adam would fail at its first step, or
    train on NaN, on anything else."""
    amsgrad = any(group.get("amsgrad") for group in opt.param_groups)
    keys = {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
    for param, state in opt.state.items():
        if not isinstance(state, dict) or set(state) != keys or not all(
                _adam_value(state[k], param, k) for k in keys):
            raise CheckpointError(f"{label} has a damaged optimizer state (a parameter's state is "
                                  "not Adam's step count and moments); nothing was loaded")


def _adam_value(value, param: torch.Tensor, key: str) -> bool:
    if not torch.is_tensor(value) or value.layout != torch.strided or value.is_meta:
        return False
    if key == "step":
        kind = value.dtype == torch.float32 and value.numel() == 1
    else:
        kind = value.dtype == param.dtype and value.shape == param.shape
    return kind and bool(torch.isfinite(value).all()) and (key == "exp_avg" or bool((value >= 0).all()))
