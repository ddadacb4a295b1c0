"""Faults: a training process killed mid-run, Stop, a diverging run, a full or read-only disk."""
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from dae_core import TrainConfig
from dae_core import checkpoint as ckpt_io
from dae_core.cli import main
from dae_core.latent import decode
from dae_core.runs import RunRequest, TrainingRun
from dae_core.train import BatchStats, Stopped, fit, new_state, prepare_data

ROOT = Path(__file__).resolve().parents[1]
TINY = TrainConfig(train_subset=400, batch_size=64, epochs=2, device="cpu")  # 320 train images


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll `condition` until true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def count_steps(optimizer) -> list[int]:
    """Wrap optimizer.step to count calls; returns the one-element counter."""
    counter, step = [0], optimizer.step

    def counted(*args, **kwargs):
        counter[0] += 1
        return step(*args, **kwargs)

    optimizer.step = counted
    return counter


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- a killed process ------------------------------------------------------------------------

def test_sigkill_mid_training_leaves_the_last_finished_epoch(tmp_path):
    out = tmp_path / "x.pt"
    cmd = [sys.executable, "-m", "dae_core", "train", "--train-subset", "2000", "--epochs", "50",
           "--device", "cpu", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: out.exists() or proc.poll() is not None, 120,
                 "the first epoch's checkpoint")
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)  # no handler, no cleanup: like a power cut for the process
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    ck = ckpt_io.load(out)  # the rename is atomic: the file is a whole epoch, never half of one
    assert 1 <= len(ck.history) < 50 and ck.config.epochs == 50
    assert [h["epoch"] for h in ck.history] == list(range(1, len(ck.history) + 1))
    # A kill during a save can leave the hidden temporary file; it is never listed as a model.
    assert all(p.startswith(".x.pt.") for p in leftovers(tmp_path))
    assert [p.stem for p in tmp_path.glob("*.pt")] == ["x"]  # what the model picker lists
    # ... and the run goes on from there
    more = tmp_path / "y.pt"
    assert main(["train", "--resume", str(out), "--epochs", "1", "--out", str(more)]) == 0
    assert len(ckpt_io.load(more).history) == len(ck.history) + 1


# --- Stop ----------------------------------------------------------------------------------

def test_stop_takes_effect_before_the_next_batch():
    cfg = TrainConfig(train_subset=600, batch_size=32, epochs=1, device="cpu")
    state = new_state(cfg)
    steps, stop = count_steps(state.optimizer), threading.Event()
    events, at_stop = [], None
    for event in fit(state, prepare_data(cfg, state.device), stop=stop, report_every=1):
        events.append(event)
        if isinstance(event, BatchStats) and at_stop is None:
            stop.set()  # as the page's Stop button does, from the first batch report
            at_stop = steps[0]
    assert at_stop == 1
    assert steps[0] - at_stop <= 1  # at most the batch in flight
    assert isinstance(events[-1], Stopped) and events[-1].reason == "stopped"
    assert sum(isinstance(e, BatchStats) for e in events) == 1 and state.history == []


def test_stop_from_another_thread_ends_a_running_run_within_one_batch():
    cfg = TrainConfig(train_subset=2000, batch_size=32, epochs=500, device="cpu")
    run = TrainingRun(RunRequest(cfg.to_dict(), cfg.epochs))
    steps = count_steps(run.state.optimizer)
    thread = threading.Thread(target=run.train, daemon=True)
    thread.start()
    try:
        wait_for(lambda: steps[0] >= 3, 60, "three optimizer steps")
        run.stop()
        at_stop = steps[0]
        thread.join(30)
    finally:
        run.stop()
        thread.join(30)
    assert not thread.is_alive() and run.poll().status == "stopped"
    assert steps[0] - at_stop <= 1


# --- divergence ------------------------------------------------------------------------------

def test_a_diverging_run_stops_with_a_message_and_keeps_finite_weights():
    cfg = replace(TINY, lr=10.0)
    state = new_state(cfg)
    events = list(fit(state, prepare_data(cfg, state.device)))
    last = events[-1]
    assert isinstance(last, Stopped) and last.reason == "diverged"
    assert "learning rate" in last.message
    assert all(torch.isfinite(v).all() for v in state.model.state_dict().values()
               if v.is_floating_point())
    images = decode(state.model, np.random.default_rng(0).normal(size=(8, cfg.latent_dim)))
    assert np.isfinite(images).all() and 0 <= images.min() and images.max() <= 1  # no NaN images


def test_a_diverging_cli_run_exits_2_and_never_saves_nan(tmp_path, capsys):
    out = tmp_path / "x.pt"
    code = main(["train", "--lr", "10", "--train-subset", "400", "--batch-size", "64",
                 "--epochs", "2", "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: training diverged")
    assert "learning rate" in err[-1]
    if out.exists():  # an epoch may finish before the loss blows up: it must be finite
        ckpt_io.load(out)


def test_a_diverged_run_reports_it_and_previews_no_nan(helpers):
    run = helpers.ended_run(replace(TINY, lr=10.0))
    assert run.status == "diverged" and "learning rate" in run.message
    if run.model() is not None:
        images = decode(run.model(), np.zeros((2, TINY.latent_dim), np.float32))
        assert np.isfinite(images).all()


# --- a full or read-only disk ------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    """A good checkpoint on disk and the state to save over it."""
    state = new_state(TINY)
    path = ckpt_io.save_state(state, tmp_path / "model.pt")
    return state, path, path.read_bytes()


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("target", ["dae_core.files.os.replace",
                                    "dae_core.checkpoint.torch.save"])
def test_a_full_disk_is_a_clear_error_and_the_old_file_survives(saved, monkeypatch, target):
    state, path, before = saved
    monkeypatch.setattr(target, _enospc)
    with pytest.raises(ckpt_io.CheckpointError, match="No space left on device") as e:
        ckpt_io.save_state(state, path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
    assert path.read_bytes() == before and leftovers(path.parent) == []


def test_real_enospc_writes_from_dev_full(saved, monkeypatch):
    """The write itself fails, as on a full disk: torch.save's OSError becomes the same message."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    state, path, before = saved
    real_fdopen = os.fdopen

    def open_dev_full(fd, mode):  # the temporary file exists; its bytes go to /dev/full
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), mode)

    monkeypatch.setattr("dae_core.files.os.fdopen", open_dev_full)
    with pytest.raises(ckpt_io.CheckpointError, match="No space left on device"):
        ckpt_io.save_state(state, path)
    assert path.read_bytes() == before and leftovers(path.parent) == []


def test_a_read_only_folder_is_a_clear_error(saved, monkeypatch):
    state, path, before = saved

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("dae_core.files.tempfile.mkstemp", denied)  # root ignores chmod
    with pytest.raises(ckpt_io.CheckpointError, match="Permission denied"):
        ckpt_io.save_state(state, path.parent / "new.pt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]


def test_the_cli_keeps_the_last_good_epoch_when_a_later_save_fails(tmp_path, monkeypatch, capsys):
    out, calls, real_replace = tmp_path / "x.pt", [], os.replace

    def second_save_fails(src, dst):
        calls.append(dst)
        if len(calls) >= 2:
            _enospc()
        real_replace(src, dst)

    monkeypatch.setattr("dae_core.files.os.replace", second_save_fails)
    code = main(["train", "--train-subset", "400", "--batch-size", "64", "--epochs", "3",
                 "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: cannot save checkpoint")
    assert len(ckpt_io.load(out).history) == 1 and leftovers(tmp_path) == []


def test_the_train_page_shows_a_failed_save_and_keeps_the_run(tmp_path, monkeypatch, helpers):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    worker = helpers.ended_run(replace(TINY, epochs=1))
    at = AppTest.from_file(str(ROOT / "app_pages" / "1_Train.py"), default_timeout=60)
    at.session_state["train_worker"] = worker
    at.run()
    monkeypatch.setattr("dae_core.files.os.fsync", _enospc)  # the disk fills during the write
    at.text_input(key="train_save_name").set_value("full-disk")
    at.button(key="train_save_button").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "No space left on device" in at.error[0].value
    assert at.session_state["train_worker"] is worker and list(runs.iterdir()) == []
    monkeypatch.undo()  # space freed: the same run saves
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    at.button(key="train_save_button").click().run()
    assert not at.error and [p.name for p in runs.iterdir()] == ["full-disk.pt"]
    assert ckpt_io.load(runs / "full-disk.pt").history == worker.history
