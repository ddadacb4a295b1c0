"""Faults: a training process killed or stopped mid-run, Stop, a diverging run, a full or read-only disk."""
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
from dae_core.analysis.latent import decode
from dae_core.cli import main
from dae_core.serve import runs, training
from dae_core.serve.trainer import train_run
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

@pytest.mark.slow  # starts another Python process
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


def test_stop_from_another_thread_ends_a_running_run_within_one_batch(monkeypatch):
    """The page's Stop writes the run folder's stop file; the trainer (a job's body) ends within a
    batch and says where, keeping its finished epochs."""
    import dae_core.train as train_mod

    cfg = TrainConfig(train_subset=2000, batch_size=32, epochs=500, device="cpu")
    steps, real_new_state = [], train_mod.new_state

    def counted_state(config):  # the trainer's state, its optimizer's steps counted
        state = real_new_state(config)
        steps.append(count_steps(state.optimizer))
        return state

    monkeypatch.setattr(train_mod, "new_state", counted_state)
    run = runs.create(training.runs_dir(), cfg.to_dict(), cfg.epochs)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(train_run(run.folder)), daemon=True)
    thread.start()
    try:
        wait_for(lambda: steps and steps[0][0] >= 3, 60, "three optimizer steps")
        training.stop(run)
        at_stop = steps[0][0]
        thread.join(30)
    finally:
        run.ask_stop()
        thread.join(30)
    assert not thread.is_alive() and outcome == ["stopped"]
    assert steps[0][0] - at_stop <= 1
    status = run.status()
    assert status == {**status, "status": "stopped", "message": "Stopped during epoch 1. No epoch of this "
                      "run had finished, so it kept no new weights."}  # 3 batches: none reported yet
    assert not run.has_checkpoint()


def test_a_run_trained_in_the_callers_thread_gives_its_sigterm_handler_back(helpers):
    """A run's job stops on SIGTERM while it trains; a process that trains a run itself (these
    tests) keeps its own handler afterwards, so a SIGTERM still ends it."""
    def mine(*args):
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        assert helpers.ended_run(replace(TINY, epochs=1)).status == "finished"
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.slow  # trains for seconds
def test_a_stop_names_the_epoch_it_came_in_and_what_was_kept(helpers):
    from dae_core.serve.trainer import stopped_message

    run = helpers.ended_run(replace(TINY, epochs=1)).run  # one finished epoch
    report = BatchStats(epoch=1, batch=5, n_batches=5, loss=0.1, seconds=1.0, images_per_s=320.0)
    assert stopped_message(run, 2, report) == ("Stopped during epoch 2. Kept the weights after epoch 1 "
                                               "(1 finished epoch of this run).")  # a report of epoch 1
    report = replace(report, epoch=2, batch=3)
    assert stopped_message(run, 2, report).startswith("Stopped during epoch 2, after batch 3 of 5.")


@pytest.mark.slow  # starts another Python process
def test_a_run_job_stopped_by_ray_stops_like_the_stop_button(tmp_path):
    """Ray stops a job with SIGTERM to its command (`dae train --run-dir`): the run stops within a
    batch, keeps its finished epochs, and its folder says so."""
    cfg = TrainConfig(train_subset=2000, batch_size=64, epochs=50, device="cpu")
    run = runs.create(tmp_path, cfg.to_dict(), cfg.epochs)
    proc = subprocess.Popen([sys.executable, "-m", "dae_core", "train", "--run-dir", str(run.folder)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: run.has_checkpoint() or proc.poll() is not None, 120, "the first epoch's checkpoint")
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stderr.close()
    assert proc.returncode == 0  # a stop is no failure: Ray records the job as ended, not failed
    status, history = run.status(), run.history()
    assert status["status"] == "stopped" and "Kept the weights after epoch" in status["message"]
    assert 1 <= len(history) < 50 and ckpt_io.load(run.checkpoint_path).history == history


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
    if run.has_checkpoint:  # an epoch may finish before the loss blows up: the page previews it
        images = decode(ckpt_io.load(run.checkpoint_path).model, np.zeros((2, TINY.latent_dim), np.float32))
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


@pytest.mark.slow  # takes seconds
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


def _no_hard_links(*args, **kwargs):
    raise OSError(errno.EPERM, os.strerror(errno.EPERM))


@pytest.mark.slow  # takes seconds
@pytest.mark.parametrize("fault", [{"os.link": _enospc},  # no room for the saved name
                                   {"os.link": _no_hard_links, "os.fsync": _enospc}],  # a copy, then full
                         ids=["link", "copy"])
def test_the_train_page_shows_a_failed_save_and_keeps_the_run(tmp_path, monkeypatch, helpers, fault):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs_dir))
    worker = helpers.ended_run(replace(TINY, epochs=1))
    at = AppTest.from_file(str(ROOT / "app_pages" / "1_Train.py"), default_timeout=60)
    at.session_state["train_worker"] = worker
    at.run()
    with monkeypatch.context() as disk_full:  # the disk fills as the run is saved
        for name, fn in fault.items():
            disk_full.setattr(f"dae_core.serve.disk.{name}", fn)
        at.text_input(key="train_save_name").set_value("full-disk")
        at.button(key="train_save_button").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "No space left on device" in at.error[0].value
    assert at.session_state["train_worker"] is worker and worker.has_checkpoint
    assert list(runs_dir.glob("*.pt")) == [] and leftovers(runs_dir) == []
    at.button(key="train_save_button").click().run()  # space freed: the same run saves
    assert not at.error and [p.name for p in runs_dir.glob("*.pt")] == ["full-disk.pt"]
    assert ckpt_io.load(runs_dir / "full-disk.pt").history == worker.history
