"""The tests' own folders (tests/conftest.py): the code under test never sees the user's cache, runs
or temporary files, and each test starts with empty ones. The user's folders (data/cache/,
checkpoints/runs/) are only looked at here, never written: the cache's trimming could delete a
user's entries."""
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np

from dae_core import store
from dae_core.store import disk
from dae_core.settings import Settings, settings
from ui import models

USERS = (Settings().cache_dir, Settings().runs_dir)  # where the app writes when no variable says otherwise


def listing(folder: Path) -> dict:
    """(size, mtime) of a folder and of everything in it, or {} when there is no such folder; any
    file written there, even one deleted since, changes the folder's own mtime."""
    if not folder.exists():
        return {}
    found = {".": folder.stat().st_mtime_ns}
    for path in folder.rglob("*"):
        st = path.lstat()
        found[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return found


def test_what_the_app_writes_and_trims_is_this_tests_own_and_the_users_folders_are_untouched(tmp_path):
    before = {folder: listing(folder) for folder in USERS}
    key = {"kind": "codes", "model": uuid.uuid4().hex * 2}
    written = disk.save(key, {"y_train": np.zeros(3, np.uint8)}, store.cache_dir())  # where the app writes its cache
    assert written is not None and written.is_relative_to(tmp_path.parent)
    assert disk.load(key, [store.cache_dir()]) is not None
    assert store.evict(max_bytes=0) == [written]  # the cache's trimming trims this test's cache
    runs = models.runs_dir()
    runs.mkdir(parents=True)  # where the Train page saves runs
    assert runs.is_relative_to(tmp_path.parent) and settings().runs_dir == runs
    assert {folder: listing(folder) for folder in USERS} == before


def test_an_entry_in_another_cache_folder_is_not_seen(tmp_path):
    """The cache reads $DAE_CACHE_DIR (and the shipped results), not the repository's data/cache/."""
    default = tmp_path / "data" / "cache"  # stands in for the repository's data/cache/
    assert store.cache_dir() not in (default, Settings().cache_dir)
    key = {"kind": "codes", "model": uuid.uuid4().hex * 2}
    planted = disk.save(key, {"y_train": np.zeros(3, np.uint8)}, default)
    assert planted is not None and disk.load(key, [default]) is not None
    assert disk.load(key, [store.cache_dir(), disk.SHIPPED_DIR]) is None and store.cache_dir() != default


def test_runs_uploads_and_cache_go_to_this_tests_own_folders(tmp_path):
    assert models.runs_dir() != Settings().runs_dir and not models.runs_dir().exists()
    assert not store.cache_dir().exists()  # empty: nothing another test wrote
    own = [models.runs_dir().parent, store.cache_dir().parent, tempfile.gettempdir()]
    assert own[0] == own[1] and os.path.dirname(own[2]) == str(own[0])
    assert own[0].parent == tmp_path.parent  # in pytest's folder for this session
    with tempfile.TemporaryDirectory() as uploads:  # how the app keeps a session's uploads
        assert uploads.startswith(str(own[0]))

