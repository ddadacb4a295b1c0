"""Helpers that several test modules import (pytest puts tests/ on the path): pickles that run
code when loaded, for the tests that check a checkpoint never is (each gadget leaves a marker file
if anything ever unpickles it), and a wait for a page's background task."""
import io
import os
import pickle
import shlex

import torch


class WritesMarker:
    """Unpickling this calls open(marker, 'w'), which creates the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class RunsShell:
    """Unpickling this runs `touch marker` through os.system."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def hostile_bytes(marker, writer: str = "pickle", gadget=RunsShell, **records) -> bytes:
    """The bytes of a dict {**records, "x": gadget(marker)} written by plain pickle (protocol 2)
    or by torch.save: a would-be checkpoint whose loading would create `marker`."""
    obj = {**records, "x": gadget(marker)}
    if writer == "pickle":
        return pickle.dumps(obj, protocol=2)
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()
