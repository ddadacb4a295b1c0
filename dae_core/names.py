"""The names a person gives a checkpoint (a saved run, an upload), checked before they become
paths: a name never leaves its folder nor takes another checkpoint's place unasked."""
from __future__ import annotations

import re
from pathlib import Path

from dae_core.errors import CheckpointError
from dae_core.paths import CHECKPOINT_DIR

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def safe_path(name: str, directory: str | Path = CHECKPOINT_DIR, overwrite: bool = False) -> Path:
    """checkpoints/<name>.pt for a user-given name; refuses names that could leave the folder."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise CheckpointError("a checkpoint name is 1-64 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit")
    directory = Path(directory).resolve()
    path = (directory / f"{name.removesuffix('.pt')}.pt").resolve()
    if path.parent != directory:
        raise CheckpointError(f"checkpoint name {name!r} leaves {directory}")
    if path.exists() and not overwrite:
        raise CheckpointError(f"a checkpoint named {path.stem!r} already exists; choose another name")
    return path
