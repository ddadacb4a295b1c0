"""Which checkpoints a browser session can pick (shipped, saved runs, its own uploads) and which one
it has picked."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import streamlit as st

from dae_core.paths import CHECKPOINT_DIR
from dae_core.settings import settings

from . import url_state

SHIPPED_DIR = CHECKPOINT_DIR
PICKER = "model"  # the sidebar picker's key, and so its URL parameter
# session_state: the session's pick, kept apart from the widget. A page switch can drop a bound
# value that came from a link (not from a click) from the URL, and so from the picker; this
# brings it back (Streamlit's documented pattern for widget state across pages).
PICKED = "model_picked"


def runs_dir() -> Path:
    """Where the app saves runs, which everyone sees: $DAE_RUNS_DIR (default checkpoints/runs/)."""
    return settings().runs_dir


def session_runs() -> dict[str, str]:
    """name -> path of the checkpoints this browser session trained and saved."""
    return st.session_state.setdefault("session_runs", {})


def session_uploads() -> dict[str, str]:
    """name -> path of the checkpoint files this browser session uploaded (in its own folder)."""
    return st.session_state.setdefault("session_uploads", {})


def available() -> dict[str, str]:
    """Label -> path: the shipped checkpoints ($DAE_DEFAULT_MODEL on top: what the pages open on),
    every run saved in runs_dir() (for as long as its file is there), this session's runs saved
    elsewhere, then its uploads."""
    default = settings().default_model
    shipped = sorted(SHIPPED_DIR.glob("*.pt"), key=lambda p: (p.stem != default, p.stem))
    out = {p.stem: str(p) for p in shipped}
    out.update({f"{p.stem} (saved run)": str(p) for p in sorted(runs_dir().glob("*.pt"))})
    listed = {os.path.abspath(p) for p in out.values()}
    out.update({f"{name} (this session)": path for name, path in session_runs().items()
                if os.path.abspath(path) not in listed})
    out.update({f"{name} (uploaded)": path for name, path in session_uploads().items()})
    return out


def key_of(path: str) -> str:
    """A short, stable stand-in for a checkpoint's path in widget keys, which reach the browser:
    the server's folders never do."""
    return hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:12]


def remember(name: str) -> None:
    """Keep `name` as the session's pick (on_change of the picker, or an upload that selects)."""
    st.session_state[PICKED] = name


def restore(names: list[str]) -> None:
    """Before the picker is drawn: give it the session's pick back when it is still listed,
    unless the link names a model (a link, or the browser's back and forward, say which one)."""
    kept = st.session_state.get(PICKED)
    if kept in names and url_state.link_value(PICKER) is None:
        st.session_state[PICKER] = kept
