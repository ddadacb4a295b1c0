"""The tests' own folders (tests/conftest.py): the code under test never sees the user's cache, runs
or temporary files, and each test starts with empty ones."""
import os
import tempfile
import uuid

import numpy as np

from dae_core import store
from dae_core.settings import Settings
from ui import models


def test_an_entry_in_the_repositorys_cache_is_not_seen():
    key = store.entry_key("codes", uuid.uuid4().hex * 2)
    default = Settings().cache_dir
    planted = store.save(key, {"y_train": np.zeros(3, np.uint8)}, default)
    try:
        assert planted is not None and planted.parent == default
        assert store.load(key) is None
        assert store.cache_dir() != default
    finally:
        planted.unlink()


def test_runs_uploads_and_cache_go_to_this_tests_own_folders(tmp_path):
    assert models.runs_dir() != Settings().runs_dir and not models.runs_dir().exists()
    assert not store.cache_dir().exists()  # empty: nothing another test wrote
    own = [models.runs_dir().parent, store.cache_dir().parent, tempfile.gettempdir()]
    assert own[0] == own[1] and os.path.dirname(own[2]) == str(own[0])
    assert own[0].parent == tmp_path.parent  # in pytest's folder for this session
    with tempfile.TemporaryDirectory() as uploads:  # how the app keeps a session's uploads
        assert uploads.startswith(str(own[0]))
