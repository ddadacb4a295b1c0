"""The sidebar every page shares: pick a checkpoint (shipped + this session's runs), see its card."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dae_core import checkpoint as ckpt_io
from dae_core.errors import DaeError
from dae_core.figures import history_thumbnail

from . import cache, session

SHIPPED_DIR = ckpt_io.CHECKPOINT_DIR
RUNS_DIR = ckpt_io.CHECKPOINT_DIR / "runs"  # runs trained in the app; listed only to their session
DEFAULT = "reference-d4"


def runs_dir() -> Path:
    """Where the app saves runs: $DAE_RUNS_DIR when set (tests, read-only installs), or RUNS_DIR."""
    return Path(os.environ.get("DAE_RUNS_DIR") or RUNS_DIR)


def session_runs() -> dict[str, str]:
    """name -> path of the checkpoints this browser session trained."""
    return st.session_state.setdefault("session_runs", {})


def available() -> dict[str, str]:
    """Shipped checkpoints first (DEFAULT on top), then this session's runs."""
    shipped = sorted(SHIPPED_DIR.glob("*.pt"), key=lambda p: (p.stem != DEFAULT, p.stem))
    out = {p.stem: str(p) for p in shipped}
    out.update({f"{name} (this session)": path for name, path in session_runs().items()})
    return out


def checkpoint_picker():
    """Render the picker and the model card; returns the loaded Checkpoint, or None."""
    session.guard()  # this tab is here: a run it started keeps training
    options = available()
    with st.sidebar:
        if not options:
            st.warning("No checkpoint found in checkpoints/. Train one on the Train page.")
            return None
        names = list(options)
        current = st.session_state.get("checkpoint_name")
        index = names.index(current) if current in names else 0
        name = st.selectbox("Model", names, index=index, key="checkpoint_select")
        st.session_state["checkpoint_name"] = name
        try:
            ck = cache.load_checkpoint(options[name])
        except DaeError as e:
            st.error(str(e))
            return None
        _model_card(ck)
    return ck


def _model_card(ck) -> None:
    cfg = ck.config
    st.caption(f"d={cfg.latent_dim} · width ×{cfg.width} · {cfg.noise} {cfg.noise_strength} · "
               f"{len(ck.history)} epochs · seed {cfg.seed}")
    metrics = {k: v for k, v in ck.metrics.items() if isinstance(v, (int, float))}
    if metrics:
        # A markdown table, not st.dataframe: the data grid's JavaScript alone costs the first
        # page load about half a second in the browser (benchmarks/bench_browser.py).
        rows = "\n".join(f"| {name} | {value:.4g} |" for name, value in metrics.items())
        st.markdown(f"| metric | value |\n|---|---|\n{rows}")
    if ck.history:
        st.plotly_chart(history_thumbnail(ck.history), width="stretch",
                        config={"displayModeBar": False}, key="sidebar_thumb")
    with st.expander("Full config"):
        st.json(cfg.to_dict())


def current_path() -> str | None:
    """The path of the checkpoint the sidebar has selected."""
    return available().get(st.session_state.get("checkpoint_name", ""))


def require_checkpoint():
    """Guard for pages: the picker's checkpoint, or an info box and st.stop()."""
    ck = checkpoint_picker()
    if ck is None:
        st.info("Select or train a model to use this page.")
        st.stop()
    return ck
