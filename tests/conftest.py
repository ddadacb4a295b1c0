"""Shared fixtures: tiny configs, one short trained run per session, a saved checkpoint."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dae_core import checkpoint
from dae_core.config import TrainConfig
from dae_core.train import EpochStats, fit, new_state, prepare_data

PAGES = Path(__file__).resolve().parents[1] / "app_pages"
SLOW_ENV = "DAE_SLOW_TESTS"  # set to 1 to run the tests marked slow (e.g. real UMAP, ~30 s of JIT)


def pytest_configure(config):
    config.addinivalue_line("markers", f"slow: takes tens of seconds; runs only with {SLOW_ENV}=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get(SLOW_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"slow; set {SLOW_ENV}=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
    """train / weights / same_weights for the test modules (tests/ is not a package to import from)."""
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

    from dae_core.pipeline import Codes

    z, y = make_blobs(400, n_features=4, centers=5, cluster_std=1.5, random_state=0)
    z = z.astype(np.float32)
    return Codes(z[:300], y[:300], z[300:], y[300:], np.arange(300) * 2, 0.1)


@pytest.fixture(scope="session")
def tiny_model(ckpt_path):
    """The trained model of ckpt_path, in eval mode on the CPU."""
    return checkpoint.load(ckpt_path).model


def ended_run(cfg: TrainConfig):
    """A jobs.RunHandle of a run of cfg trained here, in this process, to its end: what a page
    holds once a Ray job has ended, without starting Ray."""
    from dae_core.jobs import RunHandle
    from dae_core.runs import RunRequest, TrainingRun

    request = RunRequest(cfg.to_dict(), cfg.epochs)
    run = TrainingRun(request)
    run.train()
    handle = RunHandle("0123456789ab", request)
    handle.apply(run.poll())
    return handle


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
def at(request):
    """The page named by the test module's PAGE (e.g. "2_Denoise.py"), after its first run."""
    return open_page(request.module.PAGE)
