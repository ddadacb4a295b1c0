"""Checks of the records a checkpoint carries: its training history and its model card.

Both come from a file that may be hostile: every value must be a finite number, yes/no or short
text, so that the pages can plot and print them as they are.
"""
from __future__ import annotations

from .config import finite_float
from .errors import CheckpointError


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
