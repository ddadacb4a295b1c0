"""ui.history: a run's epochs as a table (and CSV), and several runs side by side."""
import io

import numpy as np
import pandas as pd
import pytest

from ui.history import EPOCH_COLUMNS, compare_frame, history_frame


def epochs(val: list[float], seconds: float | None = 30.0) -> list[dict]:
    out = [{"epoch": e, "train_loss": v + 0.01, "val_loss": v, "images_per_s": 1000.0}
           for e, v in enumerate(val, start=1)]
    for h in out:
        if seconds is not None:
            h["seconds"] = seconds
    return out


def test_a_history_round_trips_through_csv_with_the_engine_columns_first():
    history = [{**h, "val_psnr": 20.0 + h["epoch"]} for h in epochs([0.3, 0.2])]
    frame = history_frame(history)
    assert list(frame.columns) == EPOCH_COLUMNS + ["val_psnr"]
    back = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    assert back.to_dict("records") == [{k: h[k] for k in back.columns} for h in history]


def test_compare_frame_has_one_row_per_run_in_order():
    table = compare_frame({"b": epochs([0.3, 0.1, 0.2]), "a": epochs([0.5]), "empty": []})
    assert list(table.index) == ["b", "a"]  # the given order; a run with no epoch is left out
    b = table.loc["b"]
    assert (b.epochs, b.best_epoch) == (3, 2)
    assert (b.best_val_mse, b.last_val_mse, b.last_train_mse) == pytest.approx((0.1, 0.2, 0.21))
    assert b.minutes == pytest.approx(1.5)


def test_a_run_without_recorded_times_has_no_minutes_not_zero():
    table = compare_frame({"old": epochs([0.2], seconds=None)})
    assert np.isnan(table.loc["old", "minutes"])
    assert compare_frame({}).empty
