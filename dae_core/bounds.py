"""Bounds on what a long-running server keeps and does: a thread-safe LRU cache held to a number
of bytes and entries, a folder trimmed to a number of bytes (oldest mtime first), slots that let
a fixed number of heavy computations run at once, and the C allocator's arenas.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

_log = logging.getLogger(__name__)


class Slots:
    """At most `n` holders at once in this process. A thread that already holds a slot passes
    (heavy work inside heavy work), and a wait past `wait_s` goes ahead anyway, logged: a busy
    server makes a page wait its turn, never hang."""

    def __init__(self, n: int, wait_s: float) -> None:
        self.n, self.wait_s = n, wait_s
        self._free = threading.BoundedSemaphore(n)
        self._mine = threading.local()

    @contextmanager
    def hold(self, what: str):
        if getattr(self._mine, "held", False):
            yield
            return
        t = time.monotonic()
        got = self._free.acquire(timeout=self.wait_s)
        if not got:
            _log.warning("%s waited %.0f s for one of %d busy slots; it runs anyway", what,
                         time.monotonic() - t, self.n)
        self._mine.held = True
        try:
            yield
        finally:
            self._mine.held = False
            if got:
                self._free.release()


MALLOC_ARENAS = 4  # glibc's malloc arenas in the app server; MALLOC_ARENA_MAX, when set, wins
_M_ARENA_MAX = -8  # mallopt's parameter number for it (glibc's malloc.h)


def limit_malloc_arenas(n: int = MALLOC_ARENAS) -> bool:
    """Let the C allocator keep at most `n` arenas in this process (glibc's mallopt, as the
    MALLOC_ARENA_MAX variable does at start-up) -> whether it was set. glibc gives a thread that
    allocates while another does an arena of its own, up to eight per core, and an arena keeps
    the pages it freed: a server whose many script threads each once held a large result grows by
    each arena's peak. Does nothing where MALLOC_ARENA_MAX is set, or off glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, n) == 1)


def _glibc():
    """The C library through ctypes, where it is glibc (has mallopt and gnu_get_libc_version)."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def nbytes(value) -> int:
    """Bytes held by a result: its arrays' (NumPy or PyTorch), summed through dicts, lists, tuples
    and dataclasses; anything else counts as its sys.getsizeof."""
    import numpy as np  # here: the app's entry point reads this module before any page needs NumPy

    if isinstance(value, np.ndarray) or hasattr(value, "element_size"):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return sys.getsizeof(value)


class LRUCache:
    """key -> value, least recently used out first, so that the values take at most max_bytes
    (by nbytes) and there are at most max_entries; a value alone over max_bytes is not kept.
    Safe to share between threads: every method holds one lock."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._items: OrderedDict = OrderedDict()  # key -> (value, bytes), least recent first
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key, default=None):
        """The value (now the most recently used), or default."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key, value) -> None:
        """Keep value under key, then drop the least recently used beyond the bounds."""
        size = nbytes(value)
        with self._lock:
            self._drop(key)
            if size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                self._drop(next(iter(self._items)))

    def pop(self, key, default=None):
        with self._lock:
            found = key in self._items
            value = self._items[key][0] if found else default
            self._drop(key)
            return value

    def __contains__(self, key) -> bool:  # a look, not a use: the order stays as it is
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def bytes(self) -> int:
        """Bytes the values now take."""
        with self._lock:
            return self._bytes

    def _drop(self, key) -> None:
        if key in self._items:
            self._bytes -= self._items.pop(key)[1]


def evict_oldest_files(directory: str | Path, max_bytes: int, pattern: re.Pattern,
                       newest: str | None = None) -> list[Path]:
    """Delete the files directly in `directory` whose names fully match `pattern`, oldest mtime
    first (the file named `newest` last, whatever its mtime: timestamps can tie), until those left
    take at most max_bytes; returns the deleted paths. A file another process deleted first counts
    as deleted; one that cannot be deleted is skipped."""
    directory, files = Path(directory), []
    try:
        with os.scandir(directory) as it:
            for e in it:
                try:
                    if pattern.fullmatch(e.name) and e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        files.append((e.name == newest, st.st_mtime_ns, e.name, st.st_size))
                except FileNotFoundError:
                    continue  # deleted while we looked
    except OSError:
        return []
    total, removed = sum(size for *_, size in files), []
    for *_, name, size in sorted(files):
        if total <= max_bytes:
            break
        try:
            os.unlink(directory / name)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        total -= size
        removed.append(directory / name)
    return removed
