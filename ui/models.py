"""Which checkpoints a browser session can pick (shipped, its own runs and uploads) and which one
it has picked. Light on purpose: no PyTorch, so a page can look up stored results first."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dae_core.config import CHECKPOINT_DIR

from . import url_state

SHIPPED_DIR = CHECKPOINT_DIR
RUNS_DIR = CHECKPOINT_DIR / "runs"  # runs trained in the app; listed only to their session
DEFAULT = "reference-d4"
PICKER = "checkpoint_select"  # the sidebar picker's key
LAST = "checkpoint_name"  # session_state: the last pick, kept across pages


def runs_dir() -> Path:
    """Where the app saves runs: $DAE_RUNS_DIR when set (tests, read-only installs), or RUNS_DIR."""
    return Path(os.environ.get("DAE_RUNS_DIR") or RUNS_DIR)


def session_runs() -> dict[str, str]:
    """name -> path of the checkpoints this browser session trained."""
    return st.session_state.setdefault("session_runs", {})


def session_uploads() -> dict[str, str]:
    """name -> path of the checkpoint files this browser session uploaded (in its own folder)."""
    return st.session_state.setdefault("session_uploads", {})


def available() -> dict[str, str]:
    """Shipped checkpoints first (DEFAULT on top), then this session's runs and uploads."""
    shipped = sorted(SHIPPED_DIR.glob("*.pt"), key=lambda p: (p.stem != DEFAULT, p.stem))
    out = {p.stem: str(p) for p in shipped}
    out.update({f"{name} (this session)": path for name, path in session_runs().items()})
    out.update({f"{name} (uploaded)": path for name, path in session_uploads().items()})
    return out


def picked(names: list[str]) -> str:
    """The name the picker shows in this run: a link's `model` (once; then the picker's), else the
    picker's value, else the session's last pick, else the first. Safe to call again in a run."""
    if url_state.param_given("model"):
        url_state.param("model", PICKER, names[0], url_state.choice(names))
        st.session_state.pop(LAST, None)  # no index as well (see sidebar._keep_upload)
    for name in (st.session_state.get(PICKER), st.session_state.get(LAST)):
        if name in names:
            return name
    return names[0]


def picked_path() -> str | None:
    """The path of the checkpoint the picker shows in this run (drawn yet or not), or None."""
    options = available()
    return options[picked(list(options))] if options else None
