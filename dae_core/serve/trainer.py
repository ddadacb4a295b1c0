"""Train the run in a run folder, writing its progress there: the body of a run's job
(`dae train --run-dir FOLDER`), which works the same with or without Ray around it."""
from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from dae_core.errors import DaeError, one_line
from dae_core.serve.runs import Batch, Run, RunWriter, StopFlag
from dae_core.words import count

log = logging.getLogger(__name__)


def train_run(folder: str | Path) -> str:
    """Train the run at `folder` to its end, a stop or a failure -> the final status; never raises.
    While it trains, SIGTERM (what Ray's stop_job sends) asks it to stop like the stop file does;
    the caller's own handler is back once it returns."""
    run = Run(Path(folder))
    if not run.request:  # its folder is gone (a Start that failed removed it): train nothing unseen
        log.error("no run at %s: nothing to train", folder)
        return "failed"
    on_main = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    previous = signal.signal(signal.SIGTERM, lambda *_: run.ask_stop()) if on_main else None
    try:
        return _train(run)
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _train(run: Run) -> str:
    from dae_core import checkpoint as ckpt_io
    from dae_core.config import TrainConfig
    from dae_core.train import BatchStats, EpochStats, Stopped, fastest_compile_mode, fit, new_state, prepare_data

    writer = RunWriter(run)
    writer.set_status("starting", "loading PyTorch and the digits", started=time.time())
    last: BatchStats | None = None
    try:
        if run.start_path.exists():
            state = ckpt_io.to_state(ckpt_io.load(run.start_path))
        else:
            state = new_state(TrainConfig.from_dict(run.config))
        data = prepare_data(state.config, state.device)
        writer.set_status("running", started=time.time())
        for event in fit(state, data, run.epochs_planned, stop=StopFlag(run),
                         compile_mode=fastest_compile_mode(state)):
            if isinstance(event, BatchStats):
                last = event
                writer.batch(Batch(event.epoch - 1 + event.batch / event.n_batches, event.loss, event.epoch,
                                   event.batch, event.n_batches, event.seconds, event.images_per_s))
            elif isinstance(event, EpochStats):
                writer.epoch(state.history[-1], lambda p, e=event: ckpt_io.save_state(state, p, {"val_mse": e.val_loss}))
            elif isinstance(event, Stopped):
                status = "diverged" if event.reason == "diverged" else "stopped"
                message = event.message if status == "diverged" else stopped_message(run, event.epoch, last)
                writer.set_status(status, message)
                return status
    except DaeError as e:
        writer.set_status("failed", str(e))
        return "failed"
    except Exception as e:  # noqa: BLE001  the page shows one line; the job's log keeps the traceback
        log.exception("run %s failed", run.id)
        writer.set_status("failed", one_line(e))
        return "failed"
    writer.set_status("finished", f"finished {count(run.epochs_planned, 'epoch')}")
    return "finished"


def stopped_message(run: Run, epoch: int, last) -> str:
    """Where a stopped run stopped (in `epoch`; `last`, the latest progress report, says how far
    it had come: reports come every few batches) and what it kept, in words."""
    kept = len(run.history()) - (run.first_epoch - 1)
    where = f"during epoch {epoch}"
    if last is not None and last.epoch == epoch:
        where += f", after batch {last.batch} of {last.n_batches}"
    if kept <= 0:
        return f"Stopped {where}. No epoch of this run had finished, so it kept no new weights."
    return (f"Stopped {where}. Kept the weights after epoch {run.first_epoch + kept - 1} "
            f"({count(kept, 'finished epoch')} of this run).")
