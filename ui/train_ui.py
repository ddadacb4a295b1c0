"""Widget groups and small helpers of the Train page; each returns plain values."""
from __future__ import annotations

import time

import numpy as np
import streamlit as st

from dae_core.analysis.denoise import corrupt_and_reconstruct
from dae_core.config import DATASETS, DEVICES, LABELS, NOISE_KINDS, NOISE_MAX_STRENGTH, SCHEDULES, TrainConfig, preset
from dae_core.data import training_split
from dae_core.figures import grid_image
from dae_core.serve import runs as training_runs
from dae_core.words import count

from . import cache, url_state, worker
from .words import plain, setting_value

FIRST = "quick"  # the recipe the form opens on: a model as good as the reference, in a third of the time
PRESET_LABELS = {
    "quick": "Quick: 10 epochs, one-cycle learning rate (the reference's val MSE, 3× sooner)",
    "reference": "Reference: 30 epochs at a constant 1e-3 (the original recipe)",
}
REF = preset(FIRST)  # every widget's opening value
CONFIRM = "train_confirm_replace"  # session_state key: Start was pressed while the last run is unsaved
PREVIEW_SEED = 0  # the preview's noise is drawn from this seed, so epochs show the same corruption


def _key(field: str) -> str:
    """The widget key of a TrainConfig field; its value starts as the first recipe's (the Session
    State API is the one source of it, so that picking a recipe can refill the form)."""
    st.session_state.setdefault(f"train_{field}", getattr(REF, field))
    return f"train_{field}"


def _number(field: str, low, high, step=None, **kwargs):
    """A number box for one TrainConfig field, under its label; kept across pages. The widget
    itself refuses a value outside [low, high] as it is typed."""
    return st.number_input(LABELS[field], low, high, step=step, key=_key(field), persist_state="session",
                           **kwargs)


def _choice(field: str, options: tuple) -> str:
    """A select box for one TrainConfig field, under its label, its options in words; kept across pages."""
    return st.selectbox(LABELS[field], options, key=_key(field), persist_state="session",
                        format_func=lambda value: setting_value(field, value))


def _fill_form() -> None:
    """Put the chosen recipe's values in every widget of the form."""
    for name, value in preset(st.session_state["train_preset"]).to_dict().items():
        st.session_state[f"train_{name}"] = value


def preset_ui(disabled: bool) -> str:
    """The recipe radio above the form; picking one fills the form with it -> its name."""
    return st.radio("Recipe", list(PRESET_LABELS), format_func=PRESET_LABELS.get, key="train_preset",
                    on_change=_fill_form, disabled=disabled, persist_state="session",
                    help="Fills the form; change any field afterwards.")


def config_form(disabled: bool):
    """Every TrainConfig field as a widget in one form -> (field -> value, Start pressed, the slot
    beside Start for its message). Enter in a field only commits its value: Start is a click."""
    v = {}
    with st.form("train_config", enter_to_submit=False):
        model, noise, optim, data = st.columns(4)
        with model:
            st.markdown("**Model**")
            v["latent_dim"] = _number("latent_dim", 1, 256, help="d, the size of the code z")
            v["width"] = _number("width", 1, 16, help="conv channels are (8, 16, 32) × width")
            v["seed"] = _number("seed", 0, 2**31 - 1,
                                help="drives the split, the shuffling, the noise and the weights")
            v["device"] = _choice("device", DEVICES)
        with noise:
            st.markdown("**Noise**")
            v["noise"] = _choice("noise", NOISE_KINDS)
            top = max(NOISE_MAX_STRENGTH.values())
            v["noise_strength"] = _number("noise_strength", 0.0, top, 0.05,
                                          help=f"Gaussian: sigma (≤ {NOISE_MAX_STRENGTH['gaussian']:g}); "
                                          "salt and pepper, mask: share of pixels hit (≤ 1)")
            v["augment"] = _number("augment", 0.0, 3.0, 0.25,
                                   help="random affine jitter of the clean digits: 1.0 = ±10°, "
                                   "±2 px, ±10% scale; 0 = off")
        with optim:
            st.markdown("**Optimiser**")
            v["epochs"] = _number("epochs", 1, 10_000)
            # The widget refuses a negative rate as it is typed; 0 passes it and is named beside Start.
            v["lr"] = _number("lr", 0.0, 10.0, 1e-4, format="%.1e",
                              help="Adam; the peak rate of a one-cycle or cosine schedule; above 0")
            v["schedule"] = _choice("schedule", SCHEDULES)
            v["batch_size"] = _number("batch_size", 1, 65_536)
        with data:
            st.markdown("**Data**")
            v["dataset"] = _choice("dataset", DATASETS)
            v["train_subset"] = _number("train_subset", 0, 60_000, 100,
                                        help="use only the first N training images (0 = all 60k). "
                                        "A few thousand train in seconds but give a blurry model: "
                                        "for a good model fast, pick the Quick recipe")
            v["val_fraction"] = _number("val_fraction", 0.0, 0.9, 0.05,
                                        help="share of the training images held out to validate; above 0")
        start_col, message_col = st.columns([1, 6], vertical_alignment="center")
        start = start_col.form_submit_button("Start", type="primary", disabled=disabled, key="train_start")
    return v, start, message_col


def current_run(key: str):
    """This session's run (session_state[key]), or the run the URL's `run` names: a reload, a
    second tab or a restarted server finds it on disk. A name that is no run is dropped with a notice."""
    run = st.session_state.get(key)
    run_id = st.query_params.get("run")
    if run_id and (run is None or run.run_id != run_id):
        found = worker.find(run_id)
        if found is not None:
            st.session_state[key] = run = found
        else:
            st.warning(f"There is no run named {plain(run_id[:40])} on this server. "
                       "Runs are listed below, under Runs on this server.")
            del st.query_params["run"]
    if run is not None:
        url_state.sync(run=run.run_id)
    return run


def show_run(key: str, run) -> None:
    """Make `run` this session's run and put its id in the URL."""
    st.session_state[key] = run
    url_state.sync(run=run.run_id)


def progress(run) -> tuple[float, str]:
    """(fraction of this run done, what it is doing: 'Epoch e/E · batch b/n · ETA · images/s')
    for st.progress; `run` is a ui.worker.RunView (or anything with its fields)."""
    if run.status == "queued":
        place = f"{_ordinal(run.position)} in line" if run.position else "in line"
        why = f" ({run.message})" if run.message else ""
        return 0.0, f"Queued: {place}{why}. It starts when a training slot frees up; Stop leaves the queue."
    finished = len(run.history) - (run.first_epoch - 1)  # epochs this run has finished
    b = run.last_batch
    in_epoch = b.batch / b.n_batches if b is not None and b.epoch > len(run.history) else 0.0
    fraction = min(1.0, (finished + in_epoch) / run.epochs_planned)
    if run.status not in ("starting", "running"):
        seconds = sum(h["seconds"] for h in run.history[run.first_epoch - 1:])
        if finished <= 0:
            return fraction, f"{run.status.capitalize()}: no epoch of {run.epochs_planned} finished"
        return fraction, (f"{run.status.capitalize()}: {finished} of {run.epochs_planned} "
                          f"{_epochs(run.epochs_planned)} in {_duration(seconds)}")
    if run.status == "starting":
        return 0.0, "Starting the training process: loading PyTorch and the digits (a few seconds)…"
    if run.message and b is None:  # no word from the trainer yet, or Ray is unavailable
        return 0.0, run.message
    if b is None:
        return 0.0, "Training the first batches…"
    last = run.first_epoch + run.epochs_planned - 1
    return fraction, (f"Epoch {b.epoch}/{last} · batch {b.batch}/{b.n_batches} · "
                      f"ETA {_duration(_seconds_left(run, b, fraction))} · {b.images_per_s:,.0f} images/s")


def _seconds_left(run, b, fraction: float) -> float:
    """Epochs left × seconds per epoch, measured by this run: its finished epochs' mean (training
    and validation), else the current epoch's pace so far. Not elapsed time ÷ fraction done,
    which grows between two progress reports while the batch count stands still."""
    done = [h["seconds"] for h in run.history[run.first_epoch - 1:]]
    per_epoch = sum(done) / len(done) if done else b.seconds * b.n_batches / b.batch
    return (1 - fraction) * run.epochs_planned * per_epoch


def unsaved(run) -> bool:
    """True when `run` has ended with finished epochs that were never saved: starting another would
    lose them."""
    return run is not None and not run.active and run.has_checkpoint and not run.saved_name


def confirm_replace(run, asked: bool) -> bool:
    """Start was pressed (`asked`) while this tab's run is unsaved: ask, until the user discards it
    (-> True) or keeps it. Shown under the form, where Start was pressed."""
    if asked:
        st.session_state[CONFIRM] = True
    if not st.session_state.get(CONFIRM) or not unsaved(run):
        st.session_state.pop(CONFIRM, None)
        return False
    with st.container(border=True):
        st.warning(f"The last run ({count(run.model_epoch, 'epoch')}) is not saved, and a new run "
                   "replaces it. Save it below first, or discard it.")
        discard_col, keep_col = st.columns([1, 4])
        discard = discard_col.button("Discard it and train", key="train_discard", type="primary")
        keep = keep_col.button("Keep it", key="train_keep")
    if discard or keep:
        st.session_state.pop(CONFIRM, None)
    if keep:
        st.rerun()  # without the question
    return discard


def _epochs(n: int) -> str:
    return "epoch" if n == 1 else "epochs"


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m {s:02d}s" if m else f"{s}s"


def preview_image(model, config: TrainConfig, n: int = 8, scale: int = 3) -> np.ndarray:
    """Three rows of the first n validation digits: original, corrupted, reconstructed -> (H, W)."""
    cache.digits(config.dataset)  # loaded once per server
    images = training_split(config).val_images[:n]
    out = corrupt_and_reconstruct(model, images, config.noise, config.noise_strength, PREVIEW_SEED)
    rows = np.concatenate([out.x, out.x_noisy, out.x_hat])
    return grid_image(rows, nrow=len(images), scale=scale)


def runs_table(runs: list) -> None:
    """The newest runs in the runs folder, each a link that opens it here (as its folder says)."""
    if not runs:
        return
    st.subheader("Runs on this server")
    rows = []
    for r in runs:
        disk = r.status()
        status = disk.get("status", "queued")
        quiet_min = (time.time() - float(disk.get("updated") or 0)) / 60
        if status in ("starting", "running") and quiet_min * 60 > training_runs.STALE_S:
            status = f"{status}? no word for {quiet_min:.0f} min"  # open it to ask Ray
        saved = r.saved_as()
        cfg = r.config
        what = f"d={cfg.get('latent_dim', '?')}, {plain(str(cfg.get('noise', '')).replace('_', ' and '))} noise"
        rows.append(f"| [{r.id}](/Train?run={r.id}) | {what} | {len(r.history())} of "
                    f"{r.first_epoch - 1 + r.epochs_planned} | {status} | "
                    f"{plain(saved) if saved else 'not saved'} |")
    st.markdown("| Run | Model | Epochs | Status | Saved as |\n|---|---|---|---|---|\n" + "\n".join(rows))
    st.caption("An unsaved run is kept until the runs folder fills up; then the oldest go first.")
