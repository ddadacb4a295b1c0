"""Widget groups and small helpers of the Train page; each returns plain values."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from dae_core.config import DATASETS, DEVICES, NOISE_KINDS, NOISE_MAX_STRENGTH, SCHEDULES, TrainConfig, preset
from dae_core.data import training_split
from dae_core.denoise import corrupt_and_reconstruct
from dae_core.errors import DaeError
from dae_core.figures import compare_runs, grid_image

from . import cache, url_state, worker

FIRST = "quick"  # the recipe the form opens on: a model as good as the reference, in a third of the time
PRESET_LABELS = {
    "quick": "Quick: 10 epochs, one-cycle learning rate (the reference's val MSE, 3× sooner)",
    "reference": "Reference: 30 epochs at a constant 1e-3 (the original recipe)",
}
REF = preset(FIRST)  # every widget's opening value
SAVE_OUTCOME = "train_save_outcome"  # session_state key: ("saved" | "failed", message) of the latest save
PREVIEW_SEED = 0  # the preview's noise is drawn from this seed, so epochs show the same corruption


def _key(field: str) -> str:
    """The widget key of a TrainConfig field; its value starts as the first recipe's (the Session
    State API is the one source of it, so that picking a recipe can refill the form)."""
    st.session_state.setdefault(f"train_{field}", getattr(REF, field))
    return f"train_{field}"


def _number(label: str, field: str, low, high, step=None, **kwargs):
    """A number box for one TrainConfig field; kept across pages."""
    return st.number_input(label, low, high, step=step, key=_key(field), persist_state="session", **kwargs)


def _choice(label: str, field: str, options: tuple) -> str:
    """A select box for one TrainConfig field; kept across pages."""
    return st.selectbox(label, options, key=_key(field), persist_state="session")


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
    beside Start for its message)."""
    v = {}
    with st.form("train_config"):
        model, noise, optim, data = st.columns(4)
        with model:
            st.markdown("**Model**")
            v["latent_dim"] = _number("Latent size d", "latent_dim", 1, 256)
            v["width"] = _number("Width ×", "width", 1, 16,
                                 help="conv channels are (8, 16, 32) × width")
            v["seed"] = _number("Seed", "seed", 0, 2**31 - 1,
                                help="drives the split, the shuffling, the noise and the weights")
            v["device"] = _choice("Device", "device", DEVICES)
        with noise:
            st.markdown("**Noise**")
            v["noise"] = _choice("Kind", "noise", NOISE_KINDS)
            top = max(NOISE_MAX_STRENGTH.values())
            v["noise_strength"] = _number("Strength", "noise_strength", 0.0, top, 0.05,
                                          help=f"gaussian: sigma (≤ {NOISE_MAX_STRENGTH['gaussian']:g}); "
                                          "salt_pepper / mask: share of pixels hit (≤ 1)")
            v["augment"] = _number("Augment", "augment", 0.0, 3.0, 0.25,
                                   help="random affine jitter of the clean digits: 1.0 = ±10°, "
                                   "±2 px, ±10% scale; 0 = off")
        with optim:
            st.markdown("**Optimiser**")
            v["epochs"] = _number("Epochs", "epochs", 1, 10_000)
            v["lr"] = _number("Learning rate", "lr", 0.0, 10.0, 1e-4, format="%.1e",
                              help="Adam; the peak rate of a one-cycle or cosine schedule; > 0")
            v["schedule"] = _choice("Schedule", "schedule", SCHEDULES)
            v["batch_size"] = _number("Batch size", "batch_size", 1, 65_536)
        with data:
            st.markdown("**Data**")
            v["dataset"] = _choice("Dataset", "dataset", DATASETS)
            v["train_subset"] = _number("Train subset", "train_subset", 0, 60_000, 100,
                                        help="use only the first N training images (0 = all 60k). "
                                        "A few thousand train in seconds but give a blurry model: "
                                        "for a good model fast, pick the Quick recipe")
            # Bounded wider than TrainConfig allows: an impossible value is named next to Start.
            v["val_fraction"] = _number("Validation fraction", "val_fraction", 0.0, 0.99, 0.05)
        start_col, message_col = st.columns([1, 6], vertical_alignment="center")
        start = start_col.form_submit_button("Start", type="primary", disabled=disabled, key="train_start")
    return v, start, message_col


def current_run(key: str, guard):
    """This session's run (session_state[key]), or the run the URL's `run` names: a reload or a
    second tab reattaches to it. A run id this server does not know is dropped with a notice."""
    run = st.session_state.get(key)
    run_id = st.query_params.get("run")
    if run_id and (run is None or run.run_id != run_id):
        found = worker.find(run_id, guard)
        if found is not None:
            st.session_state[key] = run = found
        else:
            st.warning(f"Run `{run_id[:16]}` is not on this server any more (its tabs were closed "
                       "for over a minute, or the server restarted).")
            del st.query_params["run"]
    if run is not None:
        url_state.sync(run=run.run_id)
    return run


def show_run(key: str, run) -> None:
    """Make `run` this session's run and put its id in the URL."""
    st.session_state[key] = run
    st.session_state.pop(SAVE_OUTCOME, None)  # a new run has not been saved yet
    url_state.sync(run=run.run_id)


def progress(run, now: float) -> tuple[float, str]:
    """(fraction of this run done, 'Epoch e/E · batch b/n · ETA · images/s') for st.progress;
    `run` is a dae_core.jobs.RunHandle (or anything with its fields)."""
    if run.status == "queued":
        place = f"{_ordinal(run.position)} in line" if run.position else "in line"
        return 0.0, f"Queued: {place}. It starts when a training slot frees up; Stop leaves the queue."
    finished = len(run.history) - (run.first_epoch - 1)  # epochs this run has finished
    b = run.last_batch
    in_epoch = b.batch / b.n_batches if b is not None and b.epoch > len(run.history) else 0.0
    fraction = min(1.0, (finished + in_epoch) / run.epochs_planned)
    if run.status not in ("starting", "running"):
        seconds = sum(h["seconds"] for h in run.history[run.first_epoch - 1:])
        return fraction, (f"{run.status.capitalize()}: {finished} of {run.epochs_planned} epochs "
                          f"in {_duration(seconds)}")
    if b is None:
        return 0.0, "Starting a training worker and loading the data…"
    elapsed = now - run.started
    eta = _duration(elapsed * (1 - fraction) / fraction) if fraction > 0 else "…"
    last = run.first_epoch + run.epochs_planned - 1
    return fraction, (f"Epoch {b.epoch}/{last} · batch {b.batch}/{b.n_batches} · ETA {eta} · "
                      f"{b.images_per_s:,.0f} images/s")


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


def save_form(default_name: str) -> str | None:
    """A name box and a Save button -> the typed name when pressed, else None."""
    with st.form("train_save"):
        name = st.text_input("Checkpoint name", default_name, max_chars=64, key="train_save_name",
                             help="letters, digits, '.', '_' or '-'; saved in checkpoints/runs/")
        pressed = st.form_submit_button("Save checkpoint", type="primary", key="train_save_button")
    return name.strip() if pressed else None


def continue_ui() -> int | None:
    """'Continue for N more epochs' -> N when pressed, else None."""
    with st.form("train_continue"):
        more = st.number_input("More epochs", 1, 10_000, 5, key="train_more")
        pressed = st.form_submit_button("Continue training", key="train_continue_button")
    return int(more) if pressed else None


def run_histories(paths: dict[str, str]) -> tuple[dict[str, list], list[str]]:
    """name -> path of checkpoints -> (name -> history, one error line per unreadable file)."""
    histories, errors = {}, []
    for name, path in paths.items():
        try:
            histories[name] = cache.load_checkpoint(path).history
        except DaeError as e:
            errors.append(str(e))
    return histories, errors


def default_run_name(config: TrainConfig, epochs: int, stamp: str) -> str:
    """e.g. 'd4-gaussian-30ep-0612-1405': what the run is, and when, so names rarely collide."""
    return f"d{config.latent_dim}-{config.noise}-{epochs}ep-{stamp}"


def finished_ui(run) -> tuple[str | None, int | None]:
    """The run's outcome, then the save and continue forms -> (name to save under, more epochs)."""
    if run.status in ("diverged", "failed"):
        st.error(f"Failed: {run.message}" if run.status == "failed" else run.message)
    elif run.status == "stopped":
        st.warning(run.message)
    if run.payload is None:
        return None, None
    st.subheader("Save or continue this run")
    st.caption("Starting a new run replaces this one: save it first to keep it."
               + (f" Saving keeps epoch {run.model_epoch}, the last one that finished." if run.status == "failed" else ""))
    save_col, more_col = st.columns(2)
    with save_col:
        name = save_form(default_run_name(run.config, run.model_epoch, time.strftime("%m%d-%H%M")))
        outcome = st.session_state.get(SAVE_OUTCOME)  # only the latest save's: never a stale "Saved"
        if outcome is not None:
            (st.success if outcome[0] == "saved" else st.error)(outcome[1])
    with more_col:
        more = continue_ui()
    return name, more


def save_run(run, name: str, runs_dir) -> str | None:
    """Save the run under `name`; the outcome is kept for finished_ui to show -> the path, or None."""
    try:
        path = run.save(name, runs_dir)
    except DaeError as e:
        st.session_state[SAVE_OUTCOME] = ("failed", f"Not saved: {e}".replace(str(runs_dir), "the runs folder"))
        return None
    stem = Path(path).stem
    st.session_state[SAVE_OUTCOME] = ("saved", f"Saved as **{stem}**; pick **{stem} (this session)** in "
                                      "the sidebar to use it on the other pages.")
    return path


def compare_ui(runs: dict[str, str], log_y: bool) -> None:
    """Overlay the loss curves of saved runs (default: the first shipped model and this session's)."""
    st.subheader("Compare saved runs")
    default = list(runs)[:1] + [label for label in runs if label.endswith("(this session)")]
    picked = st.multiselect("Runs to overlay", list(runs), default=list(dict.fromkeys(default)))
    histories, errors = run_histories({label: runs[label] for label in picked})
    for error in errors:
        st.warning(error)
    if histories:
        st.plotly_chart(compare_runs(histories, log_y), key="train_compare_chart")
