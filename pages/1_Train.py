"""Train: set every hyper-parameter, watch the loss live, stop, continue, save and compare runs."""
import time
from pathlib import Path

import streamlit as st

from dae_core import TrainConfig
from dae_core.errors import DaeError
from dae_core.figures import compare_runs, loss_chart
from ui import train_ui
from ui.sidebar import available, checkpoint_picker, runs_dir, session_runs
from ui.worker import TrainingWorker

WORKER = "train_worker"  # session_state key of this session's run
POLL_S = 1.0  # how often the live view redraws while a run trains

st.set_page_config(page_title="Train · DAE Lab", page_icon="🧪", layout="wide")
checkpoint_picker()  # the shared sidebar; training does not need a selected model
st.title("Train")
st.caption("The form opens on the reference run (30 epochs on 48k digits). Set a train subset of a "
           "few thousand images for a quick run. Other pages stay usable while a run trains.")

# Inputs
worker = st.session_state.get(WORKER)
busy = worker is not None and worker.running
values, start = train_ui.config_form(disabled=busy)
stop_col, log_col = st.columns([1, 4])
stop = stop_col.button("Stop", disabled=not busy, key="train_stop",
                       help="takes effect within one batch; the finished epochs are kept")
log_y = log_col.toggle("Log-scale loss axis", key="train_log_y")

# Guard and core calls: an impossible setting or a missing device is one st.error line
if start:
    try:
        new_worker = TrainingWorker.fresh(TrainConfig(**values))
    except DaeError as e:
        st.error(str(e))
    else:
        new_worker.alive = train_ui.session_alive()  # a closed tab stops its run
        new_worker.start()
        st.session_state[WORKER] = new_worker
        st.rerun()  # redraw the form disabled and the live view polling
if stop:
    worker.stop()


@st.fragment(run_every=POLL_S if busy else None)
def live_view(worker: TrainingWorker) -> None:
    """Progress, loss chart and triplet preview of the worker's latest snapshot."""
    snap = worker.snapshot()
    fraction, text = train_ui.progress(snap, time.time())
    st.progress(fraction, text=text)
    chart_col, preview_col = st.columns([3, 2])
    chart_col.plotly_chart(loss_chart(snap.history, snap.batches, log_y), key="train_loss_chart")
    if snap.model is not None:
        # Recompute only when a new epoch finished, i.e. the worker took a new copy of the model.
        cached = st.session_state.get("train_preview")
        if cached is None or cached[0] is not snap.model:
            cached = (snap.model, train_ui.preview_image(snap.model, worker.state.config))
            st.session_state["train_preview"] = cached
        preview_col.image(cached[1], clamp=True, caption=f"After epoch {snap.model_epoch}: "
                          "original, corrupted, reconstructed (validation digits)")
    else:
        preview_col.info("The original / corrupted / reconstructed preview appears after epoch 1.")
    if busy and snap.status != "running":
        worker.join(2)  # the thread ends right after its last event
        st.rerun()  # the whole page: the save and continue forms appear


# Display: the current run
if worker is None:
    st.info("No run yet in this session: set the hyper-parameters and press **Start**.")
else:
    live_view(worker)

if worker is not None and not busy:
    snap = worker.snapshot()
    if snap.status in ("diverged", "failed"):
        st.error(snap.message)
    elif snap.status == "stopped":
        st.warning(snap.message)
    if snap.saved_path:
        st.success(f"Saved as {snap.saved_path}; pick **{Path(snap.saved_path).stem} "
                   "(this session)** in the sidebar to use it on the other pages.")

if worker is not None and not busy and worker.state.history:
    st.subheader("Save or continue this run")
    st.caption("Starting a new run replaces this one: save it first to keep it.")
    save_col, more_col = st.columns(2)
    with save_col:
        name = train_ui.save_form(train_ui.default_run_name(
            worker.state.config, worker.state.epochs_done, time.strftime("%m%d-%H%M")))
    with more_col:
        more = train_ui.continue_ui()
    if name is not None:
        try:
            path = worker.save(name, runs_dir())
        except DaeError as e:
            st.error(str(e))  # the run stays in session_state: try another name
        else:
            session_runs()[Path(path).stem] = path
            st.rerun()  # redraw the sidebar, which now lists the run
    if more is not None:
        # Same TrainState: model, optimizer and history go on; the batch curve is carried over.
        next_worker = TrainingWorker(worker.state, more, batches=list(worker.batches),
                                     alive=worker.alive)
        next_worker.start()
        st.session_state[WORKER] = next_worker
        st.rerun()

# Display: compare saved runs
st.subheader("Compare saved runs")
runs = available()
# Default: the first shipped model (the reference) against every run of this session.
default = list(runs)[:1] + [label for label in runs if label.endswith("(this session)")]
picked = st.multiselect("Runs to overlay", list(runs), default=list(dict.fromkeys(default)))
histories, errors = train_ui.run_histories({label: runs[label] for label in picked})
for error in errors:
    st.warning(error)
if histories:
    st.plotly_chart(compare_runs(histories, log_y), key="train_compare_chart")
