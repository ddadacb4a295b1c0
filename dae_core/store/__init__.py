"""One result cache for what is slow to recompute for a model: codes, clusterings, 2-D maps,
fitted samplers, sample scores.

    codes = store.get_or_compute(CODES, fp, {}, lambda: encode_splits(model, config))

A result is found under one key, `key(kind, model, params)`: the kind of analysis, the model's
`fingerprint()` (its weights and config, not its file: re-saving the same model with new metrics
keeps its results) and every parameter that changes the result. It is looked up in memory (one LRU
per process, shared by every session, at most $DAE_MEMORY_CACHE_MB), then on disk in
$DAE_CACHE_DIR (at most $DAE_CACHE_MAX_MB, least recently used out first), then in the read-only
folder shipped with the app (checkpoints/cache/). What is computed goes to memory and disk.

Each analysis says how its result is kept with a `Kind`, next to the code that computes it: its
value as arrays and back, with every array checked (keys, dtypes, shapes, ranges, finite values)
before use, so that a damaged or foreign entry reads as no entry and the result is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from dae_core.bounds import LRUCache
from dae_core.settings import MB, settings
from dae_core.store import disk

log = logging.getLogger(__name__)

# Bump when the layout of an entry or a recipe that changes results (UMAP/GMM settings) changes.
FORMAT = 1
MAX_ENTRIES = 4096  # in memory, however small: a link can name any number of seeds
COMPUTE_WAIT_S = 60.0  # a compute waits this long for another thread's of the same key, then runs


class Kind(NamedTuple):
    """How one analysis's results are kept: `name` (in keys and file names, [a-z]+), the value as
    arrays, and arrays back to a value given the key they were found under (None when they do not
    make a valid one)."""

    name: str
    to_arrays: Callable[[Any], dict[str, np.ndarray]]
    from_arrays: Callable[[dict[str, np.ndarray], dict], Any]


def key(kind: Kind, model: str | None, params: dict | None = None) -> dict:
    """The key of one result: its kind, the model's fingerprint (None for a result of no model),
    the format and the parameters."""
    return {"kind": kind.name, **({"model": model} if model is not None else {}), "format": FORMAT,
            **(params or {})}


def cache_dir() -> Path:
    """Where new entries are written: $DAE_CACHE_DIR, or data/cache/ in the repository."""
    return settings().cache_dir


def evict(directory: str | Path | None = None, max_bytes: int | None = None) -> list[Path]:
    """Trim the cache folder to $DAE_CACHE_MAX_MB (or max_bytes), least recently used first."""
    if max_bytes is None:
        max_bytes = int(settings().cache_max_mb * MB)
    return disk.evict(cache_dir() if directory is None else directory, max_bytes)


_memory: LRUCache | None = None
_memory_lock = threading.Lock()


def memory() -> LRUCache:
    """This process's results in memory (created on first use, from the settings)."""
    global _memory
    with _memory_lock:
        if _memory is None:
            _memory = LRUCache(int(settings().memory_cache_mb * MB), MAX_ENTRIES)
        return _memory


def forget() -> None:
    """Drop the results held in memory (the next get reads the disk)."""
    global _memory
    with _memory_lock:
        _memory = None


def get(kind: Kind, model: str | None, params: dict | None = None,
        directories: list[Path] | None = None) -> Any:
    """The result from memory, the cache folder or the shipped folder (or only from
    `directories`, when given), or None."""
    k = key(kind, model, params)
    name = disk.file_name(k)
    if directories is None:
        found = memory().get(name)
        if found is not None:
            return found
    arrays = disk.load(k, [cache_dir(), disk.SHIPPED_DIR] if directories is None else directories)
    found = None if arrays is None else kind.from_arrays(arrays, k)
    if found is not None and directories is None:
        memory().put(name, found)
    return found


def put(kind: Kind, model: str | None, params: dict | None, value: Any,
        directory: str | Path | None = None) -> Path | None:
    """Keep a result in memory and in the cache folder (or only in `directory`, when given); the
    entry's path, or None when the disk kept nothing (memory keeps it all the same)."""
    k = key(kind, model, params)
    if directory is None:
        memory().put(disk.file_name(k), value)
        return disk.save(k, kind.to_arrays(value), cache_dir(), int(settings().cache_max_mb * MB))
    return disk.save(k, kind.to_arrays(value), directory)


def get_or_compute(kind: Kind, model: str | None, params: dict | None, compute: Callable[[], Any]) -> Any:
    """The stored result, or compute() kept and returned. In one process one thread computes a
    key while the others asking for it wait (at most COMPUTE_WAIT_S), then read what it kept."""
    found = get(kind, model, params)
    if found is not None:
        return found
    with _one_at_a_time(disk.file_name(key(kind, model, params))):
        found = get(kind, model, params)
        if found is None:
            found = compute()
            if found is not None:
                put(kind, model, params, found)
    return found


_computing: dict[str, list] = {}  # key's file name -> [lock, threads using it]; empty when idle
_computing_lock = threading.Lock()


@contextmanager
def _one_at_a_time(name: str):
    with _computing_lock:
        entry = _computing.setdefault(name, [threading.Lock(), 0])
        entry[1] += 1
    t = time.monotonic()
    got = entry[0].acquire(timeout=COMPUTE_WAIT_S)
    if not got:
        log.warning("%s: waited %.0f s for another thread computing it; computing it here too",
                    name, time.monotonic() - t)
    try:
        yield
    finally:
        if got:
            entry[0].release()
        with _computing_lock:
            entry[1] -= 1
            if entry[1] == 0:
                del _computing[name]


def fingerprint(model, config) -> str:
    """sha256 (hex) of a model's weights and buffers (names, dtypes, shapes, bytes) and config."""
    h = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
