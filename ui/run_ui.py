"""What the Train page offers once a run has ended (save it, continue it, download its history),
and the comparison of saved runs; each widget group returns plain values."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import streamlit as st

from dae_core.config import TrainConfig
from dae_core.errors import DaeError
from ui.history import compare_frame, history_frame
from ui.svg import compare_runs_svg

from . import cache
from .models import available, runs_dir, session_runs
from .words import markdown_frame, plain

log = logging.getLogger(__name__)
SAVE_FAILED = "train_save_failed"  # session_state key: (run id, message) of the latest failed save
COMPARE_COLUMNS = {  # compare_frame's columns, as the table shows them, with their formats
    "epochs": ("Epochs", "{:.0f}"), "best_val_mse": ("Best val MSE", "{:.4f}"),
    "best_epoch": ("at epoch", "{:.0f}"), "last_val_mse": ("Last val MSE", "{:.4f}"),
    "last_train_mse": ("Last train MSE", "{:.4f}"), "minutes": ("Minutes trained", "{:.1f}"),
}

def default_run_name(config: TrainConfig, epochs: int, stamp: str) -> str:
    """e.g. 'd4-gaussian-30ep-0612-1405': what the run is, and when, so names rarely collide."""
    return f"d{config.latent_dim}-{config.noise}-{epochs}ep-{stamp}"


def save_form(run) -> str | None:
    """A name box and a Save button -> the typed name when pressed, else None. Once the run is
    saved, a success line with its name stays under them and the button offers a copy."""
    saved = run.saved_name
    stamp = time.strftime("%m%d-%H%M", time.localtime(run.started or time.time()))  # fixed per run
    with st.form("train_save"):
        name = st.text_input("Checkpoint name", default_run_name(run.config, run.model_epoch, stamp),
                             max_chars=64, key="train_save_name",
                             help="letters, digits, '.', '_' or '-'; saved in checkpoints/runs/")
        pressed = st.form_submit_button("Save a copy" if saved else "Save checkpoint",
                                        type="secondary" if saved else "primary", key="train_save_button")
    failed = st.session_state.get(SAVE_FAILED)
    if failed is not None and failed[0] == run.run_id:
        st.error(plain(failed[1]))  # the latest attempt failed: no success line above its error
    elif saved:
        st.success(f"Saved as **{plain(saved)}** in the runs folder: pick "
                   f"**{plain(_label(str(runs_dir() / f'{saved}.pt')))}** in the "
                   "sidebar to use it on the other pages.")
    name = name.strip()
    return name if pressed and name != saved else None  # pressed again on its name: it is saved


def _label(path: str) -> str:
    """The name the sidebar's picker lists the checkpoint at `path` under."""
    return next((label for label, p in available().items() if _same(p, path)), Path(path).stem)


def _same(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def save_run(run, name: str) -> str | None:
    """Save the run under `name`, never over an existing file (another run's, or a copy's); a
    failure is kept for save_form to show -> the path, or None."""
    try:
        path = run.save(name)
    except DaeError as e:
        log.info("run %s not saved: %s", run.run_id, e)
        message = f"Not saved: {e}".replace(str(runs_dir()), "the runs folder")
        st.session_state[SAVE_FAILED] = (run.run_id, message)
        return None
    st.session_state.pop(SAVE_FAILED, None)
    return path


def continue_ui() -> int | None:
    """'Continue for N more epochs' -> N when pressed, else None."""
    # Enter only commits the number: training starts on the button alone.
    with st.form("train_continue", enter_to_submit=False):
        more = st.number_input("More epochs", 1, 10_000, 5, key="train_more", persist_state="session",
                               help="A one-cycle or cosine run goes on at its plan's final (lowest) "
                                    "learning rate; start a new run for a new plan.")
        pressed = st.form_submit_button("Continue training", key="train_continue_button")
    return int(more) if pressed else None


def finished_ui(run) -> tuple[str | None, int | None]:
    """The run's outcome, then the save and continue forms and the history download -> (name to
    save under, more epochs)."""
    if run.status in ("diverged", "failed"):
        st.error(plain(f"Failed: {run.message}" if run.status == "failed" else run.message))
    elif run.status in ("stopped", "interrupted"):
        st.warning(plain(run.message))
    if not run.has_checkpoint:
        return None, None
    st.subheader("Save or continue this run")
    if run.status == "failed":
        st.caption(f"Saving keeps epoch {run.model_epoch}, the last one that finished.")
    save_col, more_col = st.columns(2)
    with save_col:
        name = save_form(run)
    with more_col:
        more = continue_ui()
        st.download_button("Download the history (CSV)", history_frame(run.history).to_csv(index=False),
                           file_name=f"history-{run.run_id}.csv", mime="text/csv", on_click="ignore",
                           key="train_history_csv", help="one row per epoch: losses, seconds, images/s")
    return name, more


def run_histories(paths: dict[str, str]) -> tuple[dict[str, list], list[str]]:
    """name -> path of checkpoints -> (name -> history, one error line per unreadable file)."""
    histories, errors = {}, []
    for name, path in paths.items():
        try:
            histories[name] = cache.load_checkpoint(path).history
        except DaeError as e:
            log.warning("run not compared: %s", e)
            errors.append(str(e))
    return histories, errors


def compare_ui(runs: dict[str, str], log_y: bool) -> None:
    """Overlay the validation curves of saved runs (default: the first shipped model and the runs
    this session saved), with a table of their numbers."""
    st.subheader("Compare saved runs")
    mine = [label for label, path in runs.items() if any(_same(path, p) for p in session_runs().values())]
    default = list(runs)[:1] + mine
    picked = st.multiselect("Runs to overlay", list(runs), default=list(dict.fromkeys(default)))
    histories, errors = run_histories({label: runs[label] for label in picked})
    for error in errors:
        st.warning(plain(error))
    if histories:  # a picture and a Markdown table: the page loads no charting or table code
        st.image(compare_runs_svg(histories, log_y))
        st.markdown(markdown_frame(compare_table(compare_frame(histories)), right=len(COMPARE_COLUMNS),
                                   index="Run"))


def compare_table(frame):
    """compare_frame's numbers as the table shows them: labelled, rounded, '—' where unknown."""
    shown = frame.copy()
    for column, (label, fmt) in COMPARE_COLUMNS.items():
        shown[column] = [fmt.format(v) if v == v else "—" for v in frame[column]]
    return shown.rename(columns={c: label for c, (label, _) in COMPARE_COLUMNS.items()})


CONFIRM_DELETE = "train_confirm_delete"  # session_state: the saved run a Delete button asked about


def discard_ui(run) -> bool:
    """Discard an ended, unsaved run (after a confirm) -> True once discarded."""
    if run.saved_name or run.active:
        return False
    with st.popover("Discard this run"):
        st.write("Its folder, curve and weights are deleted; this cannot be undone.")
        if st.button("Discard it", key="train_discard_run", type="primary"):
            try:
                run.discard()
            except DaeError as e:
                st.error(plain(str(e)))
                return False
            return True
    return False


def delete_ui(mine: dict[str, str]) -> str | None:
    """Delete one of the runs this session saved (after a confirm) -> its name once deleted."""
    from dae_core.serve import disk

    if not mine:
        return None
    with st.expander("Delete a run you saved"):
        name = st.selectbox("Saved run", list(mine), key="train_delete_pick")
        if st.button("Delete", key="train_delete"):
            st.session_state[CONFIRM_DELETE] = name
        if st.session_state.get(CONFIRM_DELETE) == name:
            st.warning(f"Delete **{plain(name)}** for everyone on this server? This cannot be undone.")
            yes, no = st.columns(2)
            if yes.button("Yes, delete it", key="train_delete_yes", type="primary"):
                st.session_state.pop(CONFIRM_DELETE, None)
                try:
                    disk.delete_saved(runs_dir(), Path(mine[name]).stem)
                except DaeError as e:
                    st.error(plain(str(e)))
                    return None
                return name
            if no.button("Keep it", key="train_delete_no"):
                st.session_state.pop(CONFIRM_DELETE, None)
    return None
