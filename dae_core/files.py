"""Atomic file writes, shared by checkpoints, the result cache, the runs folder and the command
line (no PyTorch)."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, write, overwrite: bool = True) -> Path:
    """Write `path` through write(f) on a binary file, atomically: a temporary file in the same
    folder, fsync, then a rename over `path`, so a crash never leaves half a file.

    overwrite=False gives the file its name with a hard link instead, which fails if the name is
    taken: of two writers of one new name, one wins and the other gets FileExistsError. Any other
    failure is an OSError; either way nothing is left behind.
    """
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600 files; these are for sharing
        if overwrite:
            os.replace(tmp_name, path)
        else:
            _link_new(tmp_name, path)
    finally:
        if tmp_name and os.path.exists(tmp_name):  # a failed write, or the name a link left behind
            os.unlink(tmp_name)
    return path


def _link_new(tmp_name: str, path: Path) -> None:
    """Give the written file its name only if no file has it (link(2) is atomic and exclusive)."""
    try:
        os.link(tmp_name, path)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp_name, path)
