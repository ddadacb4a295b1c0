"""dae_core.bounds: the LRU cache keeps to its bytes and entries, least recently used out first;
a folder is trimmed oldest first and only of its entries; every cache of the UI has a bound."""
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from dae_core import bounds
from dae_core.bounds import LRUCache, evict_oldest_files, nbytes

UI = Path(__file__).resolve().parents[1] / "ui"


def kb(n: int) -> np.ndarray:
    """An array of n KiB."""
    return np.zeros(n * 1024, dtype=np.uint8)


def test_the_least_recently_used_entry_goes_first_and_a_read_one_stays():
    lru = LRUCache(max_bytes=3 * 1024, max_entries=100)
    for key in "abc":
        lru.put(key, kb(1))
    assert lru.get("a") is not None  # a is now the most recently used
    lru.put("d", kb(1))
    assert "b" not in lru and all(k in lru for k in "acd")
    assert lru.bytes == 3 * 1024 and len(lru) == 3


def test_the_entry_cap_holds_whatever_the_sizes():
    lru = LRUCache(max_bytes=2**30, max_entries=2)
    for i in range(5):
        lru.put(i, i)
    assert len(lru) == 2 and 3 in lru and 4 in lru


def test_a_value_over_the_cap_is_not_kept_and_a_replaced_one_is_counted_once():
    lru = LRUCache(max_bytes=2 * 1024, max_entries=10)
    lru.put("big", kb(3))
    assert "big" not in lru and lru.bytes == 0
    lru.put("a", kb(1))
    lru.put("a", kb(2))
    assert lru.bytes == 2 * 1024 and lru.pop("a") is not None and lru.bytes == 0


def test_sizes_sum_the_arrays_of_nested_results(blob_codes):
    assert nbytes({"x": (kb(1), [kb(2)])}) == 3 * 1024
    assert nbytes(blob_codes) >= blob_codes.z_train.nbytes + blob_codes.z_test.nbytes


def test_threads_filling_one_cache_never_pass_its_bound():
    lru = LRUCache(max_bytes=10 * 1024, max_entries=1000)

    def fill(t):
        for i in range(200):
            lru.put((t, i), kb(1))
            lru.get((t, i // 2))

    threads = [threading.Thread(target=fill, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lru) == 10 and lru.bytes == 10 * 1024


def test_a_folder_is_trimmed_oldest_first_and_only_of_matching_files(tmp_path):
    for i, name in enumerate(["e-1.npz", "e-2.npz", "e-3.npz", "notes.txt"]):
        (tmp_path / name).write_bytes(b"x" * 100)
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    removed = evict_oldest_files(tmp_path, 150, re.compile(r"e-\d\.npz"))
    assert removed == [tmp_path / "e-1.npz", tmp_path / "e-2.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e-3.npz", "notes.txt"]
    os.utime(tmp_path / "notes.txt", (1002, 1002))  # as old as e-3: the one just written goes last
    assert evict_oldest_files(tmp_path, 0, re.compile(r".*"), newest="e-3.npz")[-1].name == "e-3.npz"
    assert evict_oldest_files(tmp_path / "missing", 0, re.compile(".*")) == []


def _decorated(source: str):
    """(line number, decorator line, the line above it) of each st.cache_* decorator."""
    lines = source.splitlines()
    return [(i + 1, line, lines[i - 1] if i else "") for i, line in enumerate(lines)
            if re.match(r"\s*@st\.cache_(data|resource)\b", line)]


@pytest.mark.parametrize("path", sorted(UI.glob("*.py")), ids=lambda p: p.name)
def test_every_cache_of_the_ui_has_a_bound(path):
    """max_entries, or a '# Bounded:' comment just above saying why it needs none."""
    unbounded = [f"{path.name}:{n}" for n, line, above in _decorated(path.read_text())
                 if "max_entries=" not in line and not above.strip().startswith("# Bounded:")]
    assert not unbounded, unbounded


def test_slots_let_n_holders_at_once_and_the_next_waits_its_turn():
    slots = bounds.Slots(1, wait_s=30)
    inside, release, order = threading.Event(), threading.Event(), []

    def first():
        with slots.hold("first"):
            inside.set()
            release.wait(30)
            order.append("first done")

    def second():
        inside.wait(30)
        with slots.hold("second"):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    inside.wait(30)
    threads[1].join(0.3)
    assert threads[1].is_alive() and order == []  # the second waits while the first holds
    release.set()
    for t in threads:
        t.join(30)
    assert order == ["first done", "second in"]


def test_a_holder_passes_its_own_nested_hold_and_a_long_wait_goes_ahead_logged(caplog):
    slots = bounds.Slots(1, wait_s=0.05)
    with slots.hold("outer"):
        with slots.hold("inner"):  # the same thread: no deadlock
            pass
        done = []
        t = threading.Thread(target=lambda: done.append(slots.hold("late").__enter__() is None))
        with caplog.at_level("WARNING", logger="dae_core.bounds"):
            t.start()
            t.join(30)
    assert done == [True] and "late waited" in caplog.text


@pytest.mark.skipif(bounds._glibc() is None, reason="glibc's mallopt")
def test_the_malloc_arena_cap_is_set_unless_the_environment_sets_it(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert bounds.limit_malloc_arenas(8) is True  # glibc's own default on a 1-core machine
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert bounds.limit_malloc_arenas(8) is False
