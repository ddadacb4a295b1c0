"""Widget groups and small helpers of the Train page; each returns plain values."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dae_core.config import DATASETS, DEVICES, NOISE_KINDS, TrainConfig
from dae_core.data import split_indices
from dae_core.denoise import corrupt_and_reconstruct
from dae_core.errors import DaeError
from dae_core.figures import grid_image

from . import cache

REF = TrainConfig()  # the form opens on the reference run
PREVIEW_SEED = 0  # the preview's noise is drawn from this seed, so epochs show the same corruption


def _number(label: str, field: str, low, high, step=None, **kwargs):
    """A number box for one TrainConfig field, opening on the reference value; kept across pages."""
    return st.number_input(label, low, high, getattr(REF, field), step, key=f"train_{field}",
                           persist_state="session", **kwargs)


def _choice(label: str, field: str, options: tuple) -> str:
    """A select box for one TrainConfig field, opening on the reference value; kept across pages."""
    return st.selectbox(label, options, options.index(getattr(REF, field)), key=f"train_{field}",
                        persist_state="session")


def config_form(disabled: bool) -> tuple[dict, bool]:
    """Every TrainConfig field as a widget in one form -> (field -> value, Start pressed)."""
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
            v["noise_strength"] = _number("Strength", "noise_strength", 0.0, 5.0, 0.05,
                                          help="gaussian: sigma (≤ 5); salt_pepper / mask: share "
                                          "of pixels hit (≤ 1)")
            v["augment"] = _number("Augment", "augment", 0.0, 3.0, 0.25,
                                   help="random affine jitter of the clean digits: 1.0 = ±10°, "
                                   "±2 px, ±10% scale; 0 = off")
        with optim:
            st.markdown("**Optimiser**")
            v["epochs"] = _number("Epochs", "epochs", 1, 10_000)
            v["lr"] = _number("Learning rate", "lr", 0.0, 10.0, 1e-4, format="%.1e",
                              help="Adam; must be > 0")
            v["batch_size"] = _number("Batch size", "batch_size", 1, 65_536)
        with data:
            st.markdown("**Data**")
            v["dataset"] = _choice("Dataset", "dataset", DATASETS)
            v["train_subset"] = _number("Train subset", "train_subset", 0, 60_000, 100,
                                        help="use only the first N training images (0 = all 60k); "
                                        "a few thousand make a quick run")
            v["val_fraction"] = _number("Validation fraction", "val_fraction", 0.0, 0.9, 0.05)
        start = st.form_submit_button("Start", type="primary", disabled=disabled, key="train_start")
    return v, start


def progress(snap, now: float) -> tuple[float, str]:
    """(fraction of this run done, 'Epoch e/E · batch b/n · ETA · images/s') for st.progress."""
    finished = len(snap.history) - (snap.first_epoch - 1)  # epochs this run has finished
    b = snap.last_batch
    in_epoch = b.batch / b.n_batches if b is not None and b.epoch > len(snap.history) else 0.0
    fraction = min(1.0, (finished + in_epoch) / snap.epochs_planned)
    if snap.status != "running":
        seconds = sum(h["seconds"] for h in snap.history[snap.first_epoch - 1:])
        return fraction, (f"{snap.status.capitalize()}: {finished} of {snap.epochs_planned} epochs "
                          f"in {_duration(seconds)}")
    if b is None:
        return 0.0, "Loading the data…"
    elapsed = now - snap.started
    eta = _duration(elapsed * (1 - fraction) / fraction) if fraction > 0 else "…"
    last = snap.first_epoch + snap.epochs_planned - 1
    return fraction, (f"Epoch {b.epoch}/{last} · batch {b.batch}/{b.n_batches} · ETA {eta} · "
                      f"{b.images_per_s:,.0f} images/s")


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m {s:02d}s" if m else f"{s}s"


def preview_image(model, config: TrainConfig, n: int = 8, scale: int = 3) -> np.ndarray:
    """Three rows of the first n validation digits: original, corrupted, reconstructed -> (H, W)."""
    images = cache.digits(config.dataset).train_images[: config.train_subset or None]
    val = split_indices(len(images), config.val_fraction, config.seed).val[:n]
    out = corrupt_and_reconstruct(model, images[val], config.noise, config.noise_strength,
                                  PREVIEW_SEED)
    rows = np.concatenate([out.x, out.x_noisy, out.x_hat])
    return grid_image(rows, nrow=len(val), scale=scale)


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


def session_alive():
    """A callable telling whether this browser session is still connected (None outside a server).

    The worker uses it to stop a run whose tab was closed instead of training for nobody.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session_id)
