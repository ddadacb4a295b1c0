"""Shared fixtures: each test's own cache, runs and temporary folders; tiny configs, one short
trained run per session, a saved checkpoint."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dae_core import checkpoint
from dae_core.config import TrainConfig
from dae_core.train import EpochStats, fit, new_state, prepare_data

PAGES = Path(__file__).resolve().parents[1] / "app_pages"


# Where the app keeps what it writes: the disk cache and the saved runs ($DAE_CACHE_DIR,
# $DAE_RUNS_DIR, read at call time), and a session's uploads (the temporary folder).
FOLDERS = {"DAE_CACHE_DIR": "cache", "DAE_RUNS_DIR": "runs"}
_SESSION: dict[str, str] = {}  # the folders of this test session, set before any test runs
NO_RAY = "http://127.0.0.1:9"  # the discard port: nothing answers there


def pytest_configure(config):
    """Point the app at folders of this test session before anything reads them, so session-wide
    fixtures and the processes tests start (the CLI, Ray workers, the app server) use them too."""
    base = Path(tempfile.mkdtemp(prefix="dae-tests-"))
    for name, folder in FOLDERS.items():
        os.environ[name] = _SESSION[name] = str(base / folder)
    # No test starts a Ray by accident (the Train page warms one up): Ray is "a cluster" where
    # nothing listens, unless a test asks for a real one (tests/ray_head.py).
    os.environ["RAY_ADDRESS"] = NO_RAY
    # The pages open on the small reference model, which most page tests are written around;
    # tests of what the app opens on by default clear this (tests/test_default_model.py).
    os.environ["DAE_DEFAULT_MODEL"] = "reference-d4"


def pytest_unconfigure(config):
    if _SESSION:
        shutil.rmtree(Path(_SESSION["DAE_CACHE_DIR"]).parent, ignore_errors=True)


@pytest.fixture(autouse=True)
def own_folders(tmp_path_factory, monkeypatch):
    """Every test gets its own cache, runs and temporary folders (unless a fixture of its module
    chose one), so no test reads or writes the user's, or sees another test's. They sit beside the
    test's tmp_path, not in it: some tests list that folder."""
    base = tmp_path_factory.mktemp("own")
    for name, folder in FOLDERS.items():
        if os.environ.get(name) == _SESSION[name]:
            monkeypatch.setenv(name, str(base / folder))
    temp = base / "tmp"
    temp.mkdir()
    # In-process only: $TMPDIR would also move Ray's sockets, whose paths have a length limit.
    monkeypatch.setattr(tempfile, "tempdir", str(temp))


def train(cfg: TrainConfig, epochs: int | None = None, state=None):
    """Run the engine to the end on cfg's data; returns (state, events)."""
    state = state or new_state(cfg)
    events = list(fit(state, prepare_data(cfg, state.device), epochs))
    return state, events


def weights(model: torch.nn.Module) -> dict:
    """A detached CPU copy of the state dict (parameters and BatchNorm buffers)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="session")
def helpers():
    """train / weights / same_weights / ended_run for the test modules."""
    return SimpleNamespace(train=train, weights=weights, same_weights=same_weights, ended_run=ended_run)


@pytest.fixture(scope="session")
def tiny_cfg() -> TrainConfig:
    """300 images (240 train / 60 val), small batches, on the CPU: an epoch takes well under a second."""
    return TrainConfig(train_subset=300, batch_size=32, epochs=1, device="cpu")


@pytest.fixture(scope="session")
def run3(tiny_cfg):
    """One uninterrupted 3-epoch run: (final weights, the EpochStats in order)."""
    state, events = train(tiny_cfg, epochs=3)
    return weights(state.model), [e for e in events if isinstance(e, EpochStats)]


@pytest.fixture(scope="session")
def ckpt_path(tiny_cfg, tmp_path_factory):
    """A checkpoint of the same config after 2 epochs (read-only use: copy it before changing it)."""
    state, _ = train(tiny_cfg, epochs=2)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    checkpoint.save_state(state, path, {"val_mse": state.history[-1]["val_loss"]})
    return path


@pytest.fixture
def blob_codes():
    """Tiny pipeline.Codes: 300 training and 100 test points in 4-d, five blobs, labels 0..4."""
    from sklearn.datasets import make_blobs

    from dae_core.analysis.pipeline import Codes

    z, y = make_blobs(400, n_features=4, centers=5, cluster_std=1.5, random_state=0)
    z = z.astype(np.float32)
    return Codes(z[:300], y[:300], z[300:], y[300:], np.arange(300) * 2, 0.1)


@pytest.fixture(scope="session")
def tiny_model(ckpt_path):
    """The trained model of ckpt_path, in eval mode on the CPU."""
    return checkpoint.load(ckpt_path).model


def ended_run(cfg: TrainConfig):
    """A ui.worker.RunView of a run of cfg trained here, in this process, to its end: what a page
    holds once a run's job has ended, without starting Ray (its folder in $DAE_RUNS_DIR)."""
    from dae_core.serve import runs, training
    from dae_core.serve.trainer import train_run
    from ui.worker import RunView

    run = runs.create(training.runs_dir(), cfg.to_dict(), cfg.epochs)
    train_run(run.folder)
    return RunView(run)


@pytest.fixture
def inline_jobs(monkeypatch):
    """Jobs run on threads of this process instead of Ray (tests/inline_jobs.py)."""
    from inline_jobs import InlineJobs

    return InlineJobs().install(monkeypatch)


def open_page(page: str, timeout: float = 60, session_state: dict | None = None,
              query_params: dict | None = None):
    """An AppTest of app_pages/<page> after its first run, which must raise nothing; query_params are
    the URL's (the page opened by a link)."""
    from streamlit.testing.v1 import AppTest  # here, so the core's tests never load streamlit

    at = AppTest.from_file(str(PAGES / page), default_timeout=timeout)
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    for name, value in (query_params or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="session")
def app_test():
    """open_page(page, timeout=60, session_state=None, query_params=None): a page run once in AppTest."""
    return open_page


@pytest.fixture
def widget_warnings(monkeypatch):
    """The warnings Streamlit logs about this test's widgets (a widget given a default and a value
    set through Session State), as a list that fills while the test runs."""
    import logging

    from streamlit.elements.lib import policies

    class Kept(logging.Handler):
        def emit(self, record):
            found.append(record.getMessage())

    found, logger, handler = [], logging.getLogger(policies.__name__), Kept(logging.WARNING)
    # Streamlit says it once per process: let it speak again in this test.
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    logger.addHandler(handler)
    yield found
    logger.removeHandler(handler)


@pytest.fixture
def at(request):
    """The page named by the test module's PAGE (e.g. "2_Denoise.py"), after its first run."""
    return open_page(request.module.PAGE)
