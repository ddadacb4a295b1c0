"""The result cache's entries on disk: one `.npz` file per key, in a folder given by the caller.

An entry is named by a hash of its key and holds the key itself, so a file that was renamed,
copied to another model's name or left by an older layout is never used. Entries are read with
allow_pickle=False; a truncated, corrupt or foreign file reads as "no entry". Files are written to
a temporary name and renamed, so a crash never leaves half an entry. A folder is trimmed to a
number of bytes, least recently used first (a read refreshes an entry's mtime, since atime is often
not kept); the shipped folder is never written to or trimmed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from dae_core.bounds import evict_oldest_files
from dae_core.paths import ROOT
from dae_core.files import write_atomic

SHIPPED_DIR = ROOT / "checkpoints" / "cache"  # read-only; benchmarks/ship_cache.py writes it
_ENTRY_NAME = re.compile(r"[a-z]+-[0-9a-f]{24}\.npz")  # what file_name writes, and nothing else


def file_name(key: dict) -> str:
    """The entry's file name: its kind and a hash of the whole key."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return f"{key['kind']}-{digest}.npz"


def is_shipped(directory: Path) -> bool:
    try:
        return Path(directory).resolve().is_relative_to(SHIPPED_DIR.resolve())
    except OSError:
        return True  # not knowing where a folder is, treat it as one never to change


def evict(directory: str | Path, max_bytes: int, newest: str | None = None) -> list[Path]:
    """Delete the folder's least recently used entries (`newest`, the one just written, last)
    until they take at most max_bytes; never in the shipped folder. Returns the deleted paths."""
    if is_shipped(Path(directory)):
        return []
    return evict_oldest_files(directory, max_bytes, _ENTRY_NAME, newest)


def save(key: dict, arrays: dict[str, np.ndarray], directory: str | Path,
         max_bytes: int | None = None) -> Path | None:
    """Write one entry atomically, then trim the folder to max_bytes (when given); None when
    nothing was kept (the folder is not writable, or the entry alone is over the cap)."""
    path = Path(directory) / file_name(key)
    entry = np.array(json.dumps(key, sort_keys=True))
    try:
        write_atomic(path, lambda f: np.savez_compressed(f, key=entry, **arrays))
    except OSError:
        return None
    if max_bytes is not None and path in evict(directory, max_bytes, newest=path.name):
        return None
    return path


def load(key: dict, directories: list[Path], names: tuple[str, ...] | None = None
         ) -> dict[str, np.ndarray] | None:
    """The arrays (only those in `names`, when given) of the first readable entry with exactly
    this key in `directories`, or None."""
    for directory in directories:
        path = Path(directory) / file_name(key)
        if not path.is_file():
            continue
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files
                          if names is None or name in names or name == "key"}
            if json.loads(str(arrays.pop("key"))) == json.loads(json.dumps(key, sort_keys=True)):
                _touch(path)
                return arrays
        except (OSError, ValueError, KeyError, EOFError, TypeError, json.JSONDecodeError):
            continue  # truncated, corrupt or not an npz: as if absent
        except Exception:  # noqa: BLE001  zipfile/zlib errors of a damaged file
            continue
    return None


def _touch(path: Path) -> None:
    """Mark an entry as just used (its mtime: evict's order); the shipped folder is left as is."""
    if not is_shipped(path.parent):
        try:
            os.utime(path)
        except OSError:
            pass  # a read-only cache folder: reading matters more than the order of eviction


def valid_labels(a, n: int, k: int) -> bool:
    """True for an integer array (n,) with values in 0..k-1."""
    return (isinstance(a, np.ndarray) and a.shape == (n,) and a.dtype.kind in "iu"
            and (n == 0 or (int(a.min()) >= 0 and int(a.max()) < k)))


def valid_floats(a, shape: tuple) -> bool:
    """True for a finite floating array of exactly this shape."""
    return (isinstance(a, np.ndarray) and a.shape == shape and a.dtype.kind == "f"
            and bool(np.isfinite(a).all()))
