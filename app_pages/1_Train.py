"""Train: pick a recipe, set any hyper-parameter, watch the loss live, stop, continue, save, compare."""
import logging
from pathlib import Path

import streamlit as st

from dae_core import TrainConfig
from dae_core.errors import DaeError
from dae_core.figures import loss_chart
from ui import cache, run_ui, train_ui, worker
from ui.models import available, session_runs
from ui.sidebar import checkpoint_picker

RUN = "train_worker"  # session_state key of this session's run (a ui.worker.RunView)
POLL_S = 1.0  # how often the live view redraws while a run is queued or trains

st.set_page_config(page_title="Train · DAE Lab", layout="wide")
log = logging.getLogger("app_pages.train")
checkpoint_picker()  # the shared sidebar; training does not need a selected model
st.title("Train")
st.caption("Quick reaches the reference's reconstruction error in 10 epochs instead of 30 (about "
           "a minute on a 2-core CPU); Reference is the original recipe. Each run trains in its own "
           "process and is kept on disk as it trains: a reload, or a restarted server, finds it again.")

worker.warm_up()  # Ray starts while the user fills the form, not after Start

# Inputs: this session's run, or the one the URL names (a reload, a second tab)
run = train_ui.current_run(RUN)
busy = run is not None and run.active
train_ui.preset_ui(disabled=busy)
values, start, start_message = train_ui.config_form(disabled=busy)
unsaved = train_ui.unsaved(run)  # a new run would replace it: Start asks first
discard = train_ui.confirm_replace(run, asked=start and unsaved)
stop_col, log_col = st.columns([1, 4])
stop = stop_col.button("Stop", disabled=not busy, key="train_stop",
                       help="a queued run leaves the queue; a training one stops within one batch, keeping its finished epochs")
log_y = log_col.toggle("Log-scale loss axis", key="train_log_y", persist_state="session")

# Guard and core calls: an impossible setting, or no way to start Ray, is one line beside Start
if (start and not unsaved) or discard:
    try:
        with start_message, st.spinner("Queuing the run (the first one also starts the training processes)…"):
            new_run = worker.start(TrainConfig(**values))
    except DaeError as e:
        log.info("run not started: %s", e)
        start_message.error(f"Not started: {e}")
    else:
        train_ui.show_run(RUN, new_run)
        st.rerun()  # redraw the form disabled and the live view polling
if stop:
    run.stop()


@st.fragment(run_every=POLL_S if busy else None)
def live_view(run) -> None:
    """Queue place or progress, loss chart and triplet preview of the run's latest state."""
    run.refresh()
    fraction, text = train_ui.progress(run)
    st.progress(fraction, text=text)
    if run.status == "queued":
        return  # nothing to draw until it trains: each poll redraws only its place in line
    chart_col, preview_col = st.columns([3, 2])
    if run.batches or run.history:
        chart_col.plotly_chart(loss_chart(run.history, run.batches, log_y), key="train_loss_chart")
    else:
        chart_col.info("The loss curve appears with the first batches.")
    model = cache.load_checkpoint(run.checkpoint_path).model if run.has_checkpoint else None
    if model is not None:
        # Recompute only when a new epoch finished, i.e. the run sent a new checkpoint.
        key = (run.run_id, run.model_epoch)
        cached = st.session_state.get("train_preview")
        if cached is None or cached[0] != key:
            cached = (key, train_ui.preview_image(model, run.config))
            st.session_state["train_preview"] = cached
        preview_col.image(cached[1], clamp=True, caption=f"After epoch {run.model_epoch}: "
                          "original, corrupted, reconstructed (validation digits)")
    else:
        preview_col.info("The original / corrupted / reconstructed preview appears after epoch 1.")
    if busy and not run.active:
        st.rerun()  # the whole page: the save and continue forms appear


# Display: the current run, then what to do with it
if run is None:
    st.info("No run yet in this session: pick a recipe and press **Start**.")
else:
    live_view(run)
if run is not None and not busy:
    name, more = run_ui.finished_ui(run)
    if name is not None:
        path = run_ui.save_run(run, name)  # a failure keeps the run: try another name
        if path is not None:
            session_runs()[Path(path).stem] = path
        st.rerun()  # redraw the sidebar and the save outcome
    if more is not None:
        # The same checkpoint goes on: model, optimizer and history; the batch curve is carried over.
        try:
            train_ui.show_run(RUN, worker.start(run.config, previous=run, epochs=more))
        except DaeError as e:
            log.info("run not continued: %s", e)
            st.error(f"Not started: {e}")
        else:
            st.rerun()

    if run_ui.discard_ui(run):
        st.session_state.pop(RUN, None)
        st.query_params.pop("run", None)
        st.rerun()

train_ui.runs_table(worker.recent())
deleted = run_ui.delete_ui(session_runs())
if deleted is not None:
    session_runs().pop(deleted, None)
    st.rerun()
run_ui.compare_ui(available(), log_y)
