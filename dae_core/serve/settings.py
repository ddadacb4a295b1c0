"""The serving settings (DAE_* variables), validated: a bad value is one line naming the variable
and what it accepts."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dae_core.config import CHECKPOINT_DIR, ConfigError

CPUS_PER_RUN = 2  # PyTorch's CPU training gains little beyond two threads for this small model


@dataclass(frozen=True)
class ServeSettings:
    runs_dir: Path  # DAE_RUNS_DIR: run folders and saved runs (shared storage on a cluster)
    runs_max_mb: int  # DAE_RUNS_MAX_MB: past it, ended unsaved runs are pruned and Save is refused
    max_runs: int  # DAE_MAX_RUNS: runs training at once on a local Ray; the rest queue
    max_analyses: int  # DAE_MAX_TASKS: analyses running at once on a local Ray; the rest queue
    ray_port: int  # DAE_RAY_PORT: the local head's GCS port
    ray_dashboard_port: int  # DAE_RAY_DASHBOARD_PORT: the local head's job server (HTTP)


def _whole(name: str, default: int, low: int = 1, high: int = 1 << 30) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {value[:40]!r}")
    return int(value)


def serve_settings() -> ServeSettings:
    """The settings as the environment gives them now (read at each call, so tests may set them)."""
    return ServeSettings(
        runs_dir=Path(os.environ.get("DAE_RUNS_DIR") or CHECKPOINT_DIR / "runs"),
        runs_max_mb=_whole("DAE_RUNS_MAX_MB", 2048),
        max_runs=_whole("DAE_MAX_RUNS", max(1, (os.cpu_count() or 1) // CPUS_PER_RUN)),
        max_analyses=_whole("DAE_MAX_TASKS", 2),
        ray_port=_whole("DAE_RAY_PORT", 6389, 1024, 65535),
        ray_dashboard_port=_whole("DAE_RAY_DASHBOARD_PORT", 8275, 1024, 65534),
    )
