"""Helpers that several test modules import (pytest puts tests/ on the path): pickles that run
code when loaded, for the tests that check a checkpoint never is (each gadget leaves a marker file
if anything ever unpickles it), a wait for a page's background task, and a page's SVG pictures."""
import base64
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


def svg_pictures(block) -> list[str]:
    """The SVG text of every st.image picture under an AppTest block (at, at.main, at.sidebar)
    that was given as SVG: Streamlit sends those inline, as base64 data URLs."""
    prefix = "data:image/svg+xml;base64,"
    return [base64.b64decode(img.url[len(prefix):]).decode() for image in block.get("image")
            for img in image.proto.imgs if img.url.startswith(prefix)]
