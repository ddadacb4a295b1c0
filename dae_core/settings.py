"""Every DAE_* variable the app, the command line and their jobs read, in one frozen dataclass:
validated as it is built (a bad value is one ConfigError line naming the variable and what it
accepts) and documented by its fields (settings_table() is the deploy guide's table).

settings() reads the environment and builds Settings once, then returns that object for as long
as the DAE_* variables keep their values: the server and the CLI read it as they start, and a
test's monkeypatch.setenv is seen at the next call, with nothing to clear.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Callable

from dae_core.errors import ConfigError, shown
from dae_core.paths import CHECKPOINT_DIR, ROOT

MB = 2**20  # bytes in a megabyte, as the *_MB settings count them
CPUS_PER_RUN = 2  # PyTorch's CPU training gains little beyond two threads for this small model
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SWITCH = {"on": True, "1": True, "yes": True, "true": True,
          "off": False, "0": False, "no": False, "false": False}


@dataclass(frozen=True)
class Kind:
    """What a setting accepts, in words (for its error and its row of the table), and how its text
    becomes its value (ValueError: not accepted)."""

    accepts: str
    read: Callable[[str], object]


def whole(low: int, high: int | None = None) -> Kind:
    """A whole number from low to high (no upper bound when high is None)."""
    def read(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value
    return Kind(f"a whole number from {low} to {high}" if high else f"a whole number ≥ {low}", read)


def _megabytes(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(text)
    return value


def _folder(text: str) -> Path:
    if not text:
        raise ValueError(text)
    return Path(text).expanduser()


def _model_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise ValueError(text)
    return text


def _level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise ValueError(text)
    return text.upper()


MEGABYTES = Kind("a number of megabytes ≥ 0", _megabytes)
FOLDER = Kind("a folder", _folder)
ON_OFF = Kind("on or off (1 / 0, yes / no, true / false)", lambda text: SWITCH[text.lower()])
LEVEL = Kind(" / ".join(LOG_LEVELS), _level)
MODEL_NAME = Kind("a checkpoint's name: letters, digits, `.`, `_` and `-`", _model_name)


@dataclass(frozen=True)
class Computed:
    """A default worked out when the settings are read (from the machine), and its words."""

    words: str
    compute: Callable[[], object]


HALF_THE_CORES = Computed("cores ÷ 2, at least 1", lambda: max(1, (os.cpu_count() or 1) // CPUS_PER_RUN))


def setting(env: str, kind: Kind, default, meaning: str):
    """A field of Settings: read from the variable `env` as `kind` says; `default` (a value, or
    Computed) and `meaning` make its row of the table."""
    if isinstance(default, Computed):
        return field(default_factory=default.compute, metadata={"env": env, "kind": kind,
                                                                "default": default.words, "meaning": meaning})
    return field(default=default, metadata={"env": env, "kind": kind, "default": _words(default),
                                            "meaning": meaning})


def _words(default) -> str:
    """A default as the table shows it: a folder relative to the app, a switch as on / off."""
    if isinstance(default, Path):
        return f"`{default.relative_to(ROOT).as_posix()}/`"
    if isinstance(default, bool):
        return f"`{'on' if default else 'off'}`"
    return f"`{default}`" if isinstance(default, str) else f"{default:g}"


@dataclass(frozen=True)
class Settings:
    """The DAE_* settings of the server, the CLI and their jobs: per field, its variable, what it
    accepts, its default, then what it sets. A field given as text (or any value) is read as its
    kind says, so Settings(max_runs="3").max_runs == 3; a bad one raises ConfigError."""

    runs_dir: Path = setting("DAE_RUNS_DIR", FOLDER, CHECKPOINT_DIR / "runs",
                             "run folders and saved runs (shared storage on a cluster)")
    runs_max_mb: int = setting("DAE_RUNS_MAX_MB", whole(1), 2048, "megabytes the runs folder may hold; past "
                               "it, ended unsaved runs go, oldest first, and Save is refused")
    max_runs: int = setting("DAE_MAX_RUNS", whole(1), HALF_THE_CORES,
                            "runs training at once on the local Ray (its `dae_run` slots); the rest queue")
    max_analyses: int = setting("DAE_MAX_TASKS", whole(1), 2, "analyses running at once on the local Ray "
                                "(its `dae_analysis` slots); the rest queue")
    ray_port: int = setting("DAE_RAY_PORT", whole(1024, 65535), 6389,
                            "the local head's GCS port (it also names its folder, `/tmp/dae-ray-<port>`)")
    ray_dashboard_port: int = setting("DAE_RAY_DASHBOARD_PORT", whole(1024, 65534), 8275,
                                      "the local head's job server; the next port is its dashboard agent's")
    page_fits: int = setting("DAE_PAGE_FITS", whole(1), HALF_THE_CORES, "quick fits (k-means, noise "
                             "sweeps, samplers, encodings) the server computes at once; the rest wait")
    cache_dir: Path = setting("DAE_CACHE_DIR", FOLDER, ROOT / "data" / "cache", "the result cache: codes, "
                              "clusterings, maps, sample scores (the shipped models' are read from "
                              "`checkpoints/cache/` too)")
    cache_max_mb: float = setting("DAE_CACHE_MAX_MB", MEGABYTES, 1024,
                                  "megabytes the result cache may hold; least recently used entries go first")
    memory_cache_mb: float = setting("DAE_MEMORY_CACHE_MB", MEGABYTES, 512, "megabytes of finished results "
                                     "kept in memory for every session (512: about 700 UMAP maps)")
    data_dir: Path = setting("DAE_DATA_DIR", FOLDER, ROOT / "data",
                             "where MNIST is read from, and other datasets downloaded")
    default_model: str = setting("DAE_DEFAULT_MODEL", MODEL_NAME, "split-d22", "the shipped model every "
                                 "page opens on (a file of `checkpoints/`, without `.pt`)")
    explorer: bool = setting("DAE_EXPLORER", ON_OFF, True, "`off` replaces the in-browser latent explorer "
                             "with server-side sliders ([explorer.md](explorer.md))")
    max_uploads: int = setting("DAE_MAX_UPLOADS", whole(1), 10, "checkpoint files one session may keep open")
    max_upload_mb: float = setting("DAE_MAX_UPLOAD_MB", MEGABYTES, 50,
                                   "megabytes of checkpoint files one session may keep open")
    log_level: str = setting("DAE_LOG_LEVEL", LEVEL, "INFO", "the server's log level")

    def __post_init__(self) -> None:
        for f in fields(self):
            text = str(getattr(self, f.name)).strip()
            try:
                value = f.metadata["kind"].read(text)
            except (ValueError, KeyError):
                raise ConfigError(f"{f.metadata['env']} must be {f.metadata['kind'].accepts}, "
                                  f"not {shown(text, 40)}") from None
            object.__setattr__(self, f.name, value)


def settings() -> Settings:
    """The Settings of this process's environment: its DAE_* variables, blank ones as unset.
    Raises ConfigError (one line) for a bad value."""
    return _build(tuple((f.metadata["env"], os.environ.get(f.metadata["env"], "").strip())
                        for f in fields(Settings)))


@lru_cache(maxsize=1)
def _build(given: tuple[tuple[str, str], ...]) -> Settings:
    names = {f.metadata["env"]: f.name for f in fields(Settings)}
    return Settings(**{names[env]: text for env, text in given if text})


def environment(*names: str) -> dict[str, str]:
    """The DAE_* variables of these Settings fields that this process's environment sets: what a
    job started from here needs to read the same settings."""
    env = {f.name: f.metadata["env"] for f in fields(Settings)}
    return {env[n]: os.environ[env[n]] for n in names if os.environ.get(env[n], "").strip()}


def settings_table() -> str:
    """The settings as a markdown table (variable, default, what it accepts, what it does)."""
    rows = ["| variable | default | accepts | what it sets |", "|---|---|---|---|"]
    rows += [f"| `{f.metadata['env']}` | {f.metadata['default']} | {f.metadata['kind'].accepts} | "
             f"{f.metadata['meaning']} |" for f in fields(Settings)]
    return "\n".join(rows) + "\n"
