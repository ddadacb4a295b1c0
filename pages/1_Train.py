"""Train: pick a recipe, set any hyper-parameter, watch the loss live, stop, continue, save, compare."""
import time
from pathlib import Path

import streamlit as st

from dae_core import TrainConfig
from dae_core.errors import DaeError
from dae_core.figures import loss_chart
from ui import session, train_ui
from ui.sidebar import available, checkpoint_picker, runs_dir, session_runs
from ui.worker import TrainingWorker

WORKER = "train_worker"  # session_state key of this session's run
POLL_S = 1.0  # how often the live view redraws while a run trains

st.set_page_config(page_title="Train · DAE Lab", page_icon="🧪", layout="wide")
checkpoint_picker()  # the shared sidebar; training does not need a selected model
st.title("Train")
st.caption("Quick reaches the reference's reconstruction error in 10 epochs instead of 30 (about "
           "a minute on a 2-core CPU); Reference is the original recipe. Other pages stay usable "
           "while a run trains.")

# Inputs
worker = st.session_state.get(WORKER)
busy = worker is not None and worker.running
train_ui.preset_ui(disabled=busy)
values, start, start_message = train_ui.config_form(disabled=busy)
stop_col, log_col = st.columns([1, 4])
stop = stop_col.button("Stop", disabled=not busy, key="train_stop",
                       help="takes effect within one batch; the finished epochs are kept")
log_y = log_col.toggle("Log-scale loss axis", key="train_log_y")

# Guard and core calls: an impossible setting or a missing device is one st.error line
if start:
    try:
        new_worker = TrainingWorker.fresh(TrainConfig(**values))
    except DaeError as e:
        start_message.error(f"Not started: {e}")
    else:
        new_worker.alive = session.guard().is_open  # a run whose tab stays closed stops
        new_worker.start()
        st.session_state[WORKER] = new_worker
        st.session_state.pop(train_ui.SAVE_OUTCOME, None)  # a new run has not been saved yet
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


# Display: the current run, then what to do with it
if worker is None:
    st.info("No run yet in this session: pick a recipe and press **Start**.")
else:
    live_view(worker)
if worker is not None and not busy:
    name, more = train_ui.finished_ui(worker, runs_dir())
    if name is not None:
        path = train_ui.save_run(worker, name, runs_dir())  # a failure keeps the run: try another name
        if path is not None:
            session_runs()[Path(path).stem] = path
        st.rerun()  # redraw the sidebar and the save outcome
    if more is not None:
        # Same TrainState: model, optimizer and history go on; the batch curve is carried over.
        next_worker = TrainingWorker(worker.state, more, batches=list(worker.batches), alive=worker.alive)
        next_worker.start()
        st.session_state[WORKER] = next_worker
        st.rerun()

train_ui.compare_ui(available(), log_y)
