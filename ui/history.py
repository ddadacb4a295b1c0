"""Training histories as pandas tables: one run's epochs, and several runs side by side."""
from __future__ import annotations

import pandas as pd

EPOCH_COLUMNS = ["epoch", "train_loss", "val_loss", "seconds", "images_per_s"]  # what the engine records


def history_frame(history: list[dict]) -> pd.DataFrame:
    """One row per finished epoch, the engine's columns first (any extra score after them)."""
    frame = pd.DataFrame(history)
    extra = [c for c in frame.columns if c not in EPOCH_COLUMNS]
    return frame.reindex(columns=EPOCH_COLUMNS + extra)


def compare_frame(histories: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per run (index: its name), in the given order: epochs trained, the best validation
    MSE and its epoch, the last epoch's train and validation MSE, and the minutes it trained.
    A run with no recorded epoch is left out."""
    frames = {name: history_frame(h) for name, h in histories.items() if h}
    if not frames:
        return pd.DataFrame(columns=["epochs", "best_val_mse", "best_epoch", "last_val_mse",
                                     "last_train_mse", "minutes"])
    runs = pd.concat(frames, names=["run", "row"]).reset_index(level="row", drop=True)
    by_run = runs.groupby(level="run", sort=False)
    table = by_run.agg(epochs=("epoch", "max"), best_val_mse=("val_loss", "min"),
                       last_val_mse=("val_loss", "last"), last_train_mse=("train_loss", "last"))
    best = runs.reset_index().sort_values("val_loss", kind="stable").groupby("run", sort=False).first()
    table.insert(2, "best_epoch", best["epoch"].reindex(table.index))
    table["minutes"] = by_run["seconds"].sum(min_count=1) / 60  # unknown (NaN) where none was recorded
    return table
