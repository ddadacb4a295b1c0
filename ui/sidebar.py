"""The sidebar every page shares: pick a checkpoint (shipped, saved runs, this session's uploads),
see its card, download it, or open a checkpoint file from your computer."""
from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import streamlit as st

from dae_core import checkpoint as ckpt_io
from dae_core.config import LABELS
from dae_core.errors import DaeError, file_label
from dae_core.names import safe_path
from dae_core.settings import MB, settings
from dae_core.words import count
from ui.svg import history_sparkline

from . import cache, models, url_state
from .models import available, session_uploads
from .words import markdown_fields, metric_label, metric_value, noise_name, plain, setting_value

UPLOAD = "checkpoint_upload"  # the uploader's key
UPLOAD_OUTCOME = "checkpoint_upload_outcome"  # session_state: (file_id, error or "", name listed)
UPLOAD_TOASTED = "checkpoint_upload_toasted"  # session_state: the file_id whose error was toasted

log = logging.getLogger(__name__)


def checkpoint_picker():
    """Render the picker, the model card, Download and the uploader; returns the loaded
    Checkpoint, or None."""
    with st.sidebar:
        ck = _picked_checkpoint()
        upload_ui()
    return ck


def _picked_checkpoint():
    options = available()
    if not options:
        st.warning("No checkpoint found in checkpoints/. Train one on the Train page or open a "
                   "checkpoint file below.")
        return None
    # Bound to the URL's `model`, which also keeps the pick across pages; a saved run's file that
    # is gone leaves the list, and the picker falls back to the first.
    models.restore(list(options))
    name = url_state.bound(st.selectbox, "Model", list(options), 0, key=models.PICKER,
                           on_change=_remember_pick)  # before the next run's restore()
    models.remember(name)  # a pick that came from a link, too
    try:
        ck = cache.load_checkpoint(options[name])
    except DaeError as e:
        log.warning("model not loaded: %s", e)
        st.error(plain(e))  # it names the file: plain text
        return None
    _model_card(ck)
    path = Path(options[name])
    # The file is read when the button is pressed (a callable), not on every rerun of every page.
    st.download_button(f"Download {plain(path.name)}", data=path.read_bytes, file_name=path.name,
                       mime="application/octet-stream", on_click="ignore",
                       key="checkpoint_download",
                       help="The checkpoint file: use it with the command line, or open it in "
                            "another DAE Lab.")
    return ck


def _remember_pick() -> None:
    models.remember(st.session_state[models.PICKER])


def _model_card(ck) -> None:
    cfg = ck.config
    st.caption(f"d={cfg.latent_dim} · width ×{cfg.width} · {noise_name(cfg.noise)} "
               f"{cfg.noise_strength:g} · {count(len(ck.history), 'epoch')} · seed {cfg.seed}")
    rows = [(metric_label(key), metric_value(key, value)) for key, value in ck.metrics.items()
            if isinstance(value, (int, float, str))]
    if rows:
        # Markdown, not st.dataframe: otherwise the browser fetches and evaluates the data grid's
        # JavaScript before the first page is complete (docs/speed.md). Lines, not a table: in the
        # sidebar a table's second column squeezes the numbers.
        st.markdown("**Model card**  \n" + markdown_fields(rows))
    if ck.history:
        # An SVG picture, not a Plotly chart: on a page with no other chart, Chromium then
        # neither fetches nor evaluates Plotly's code (docs/speed.md).
        st.image(history_sparkline(ck.history), width="stretch")
    with st.expander("Training settings"):
        st.markdown(markdown_fields((LABELS.get(key, key), setting_value(key, value))
                                    for key, value in cfg.to_dict().items()))


def upload_ui() -> None:
    """Open a checkpoint file: checked like any checkpoint, listed "(uploaded)" and selected. The
    outcome shows above the popover (whose open panel covers what is below it), and a refused
    file also as a toast: one line saying what is wrong, in plain text."""
    outcome_box = st.container()
    # In a popover: its uploader joins the page only while open, so a page's own uploader stays
    # the only one on the page.
    with st.popover("Open a checkpoint file", width="stretch"):
        upload = st.file_uploader("A DAE Lab checkpoint (.pt)", type=["pt"], key=UPLOAD,
                                  on_change=_keep_upload)
    outcome = st.session_state.get(UPLOAD_OUTCOME)
    if upload is None or outcome is None or outcome[0] != upload.file_id:
        return
    if outcome[1]:
        outcome_box.error(plain(outcome[1]))
        if st.session_state.get(UPLOAD_TOASTED) != upload.file_id:  # once per file
            st.session_state[UPLOAD_TOASTED] = upload.file_id
            st.toast(plain(outcome[1]), icon=":material/error:", duration="long")
    else:
        outcome_box.caption(f"{plain(file_label(upload.name))} is listed as "
                            f"**{plain(outcome[2])} (uploaded)** for this session.")


def _keep_upload() -> None:
    """on_change of the uploader: check the file, keep it for this session and select it."""
    upload = st.session_state.get(UPLOAD)
    if upload is None:
        return
    data = upload.getvalue()
    try:
        _check_room(data, upload.name)
        ckpt_io.load_bytes(data, upload.name)  # the checks of every load, before anything is kept
        name = _store(data, upload.name)
    except DaeError as e:
        log.warning("upload refused: %s", e)  # expected: one line, no traceback
        st.session_state[UPLOAD_OUTCOME] = (upload.file_id, str(e), "")
        return
    st.session_state[UPLOAD_OUTCOME] = (upload.file_id, "", name)
    st.session_state[models.PICKER] = f"{name} (uploaded)"  # select it (and name it in the URL)
    models.remember(f"{name} (uploaded)")


def upload_limits() -> tuple[int, int]:
    """(files, bytes) one session may keep of uploaded checkpoints ($DAE_MAX_UPLOADS,
    $DAE_MAX_UPLOAD_MB); a file past either is refused."""
    s = settings()
    return s.max_uploads, int(s.max_upload_mb * MB)


def _check_room(data: bytes, filename: str) -> None:
    """Refuse a new file that would take this session past DAE_MAX_UPLOADS files or
    DAE_MAX_UPLOAD_MB megabytes of kept uploads (the same file again is already kept)."""
    kept = [Path(p) for p in session_uploads().values() if Path(p).is_file()]
    if any(p.stat().st_size == len(data) and p.read_bytes() == data for p in kept):
        return
    label = file_label(filename)
    most, max_bytes = upload_limits()
    if len(kept) >= most:
        raise ckpt_io.CheckpointError(f"{label} is not kept: this session already keeps {most} "
                                      "uploaded checkpoints, the most it may (a new tab starts a "
                                      "new session)")
    if sum(p.stat().st_size for p in kept) + len(data) > max_bytes:
        raise ckpt_io.CheckpointError(f"{label} is not kept: this session's uploads would pass "
                                      f"{max_bytes / 2**20:g} MB, the most it may keep (a new tab "
                                      "starts a new session)")


def _store(data: bytes, filename: str) -> str:
    """Keep an accepted upload in this session's folder; returns its name in session_uploads().

    The same bytes again are the entry already listed; another file of the same name gets
    "-2", "-3", ...; no file is ever written over."""
    uploads = session_uploads()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(filename).stem).strip("_-")[:56] or "upload"
    name, n = stem, 1
    while name in uploads:
        if Path(uploads[name]).read_bytes() == data:
            return name
        n += 1
        name = f"{stem}-{n}"
    path = safe_path(name, _upload_folder())
    try:
        with open(path, "xb") as f:
            f.write(data)
    except OSError as e:
        raise ckpt_io.CheckpointError(f"cannot keep {path.name}: {e.strerror or e}") from None
    uploads[name] = str(path)
    return name


def _upload_folder() -> Path:
    """This session's own temporary folder, deleted when the session's state is.

    A TemporaryDirectory held in session_state rather than a session-scoped st.cache_resource:
    Streamlit releases those on any disconnect, while the session state that lists the uploads
    survives a reconnect."""
    folder = st.session_state.get("session_upload_folder")
    if folder is None:
        folder = tempfile.TemporaryDirectory(prefix="dae-lab-uploads-")
        st.session_state["session_upload_folder"] = folder
    return Path(folder.name)


def require_checkpoint():
    """Guard for pages: the picker's checkpoint, or an info box and st.stop()."""
    ck = checkpoint_picker()
    if ck is None:
        st.info("Select or train a model to use this page.")
        st.stop()
    return ck
