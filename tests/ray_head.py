"""A real local Ray head for the tests that need one, on ports of its own, ended afterwards."""
from __future__ import annotations

import contextlib
import os

from dae_harness.browser import free_port

from dae_core.serve import jobs, ray_jobs


@contextlib.contextmanager
def local_head(monkeypatch=None, wait_s: float = 120.0):
    """Start a local head (as the app does when it first needs one) on free ports -> its env vars;
    every process of it is ended on exit. Processes started meanwhile inherit the env vars."""
    saved = {k: os.environ.get(k) for k in ("RAY_ADDRESS", "DAE_RAY_PORT", "DAE_RAY_DASHBOARD_PORT")}
    gcs, dashboard = free_port(), free_port()
    while dashboard + 1 == gcs:
        dashboard = free_port()
    env = {"DAE_RAY_PORT": str(gcs), "DAE_RAY_DASHBOARD_PORT": str(dashboard)}
    os.environ.pop("RAY_ADDRESS", None)
    os.environ.update(env)
    ray_jobs._down = (0.0, "")
    jobs._seen.clear()
    try:
        ray_jobs.ensure_head(wait_s=wait_s)
        yield env
    finally:
        ray_jobs.stop_local_head()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
