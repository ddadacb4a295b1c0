"""The Train page in AppTest: form, start -> finish -> save -> sidebar, errors, stop, continue."""
import dataclasses
import time

import pytest
from streamlit.testing.v1 import AppTest

from dae_core import TrainConfig
from dae_core import checkpoint as ckpt_io
from dae_core.config import preset
from dae_core.jobs import RunHandle
from dae_core.runs import RunRequest

PAGE = "1_Train.py"  # the page the `at` fixture opens
WORKER = "train_worker"
FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]  # a new field needs a widget


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    """Runs are saved in a temporary folder, never in the repo's checkpoints/runs/."""
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    return runs


def widget(at: AppTest, field: str):
    key = f"train_{field}"
    matches = [w for w in [*at.number_input, *at.selectbox] if w.key == key]
    assert len(matches) == 1, f"no widget for {field}"
    return matches[0]


def start_tiny(at: AppTest, epochs: int = 1) -> RunHandle:
    widget(at, "train_subset").set_value(400)
    widget(at, "epochs").set_value(epochs)
    widget(at, "batch_size").set_value(64)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    return at.session_state[WORKER]


def rerun_until(at: AppTest, run: RunHandle, condition, timeout: float = 180) -> None:
    """Plain reruns poll the run (AppTest runs no fragment timers), as the browser's timer would."""
    deadline = time.monotonic() + timeout
    while not condition(run) and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
        assert not at.exception
    assert condition(run), f"gave up waiting: {run.status} {run.message}"


def rerun_until_done(at: AppTest, run: RunHandle, timeout: float = 180) -> None:
    rerun_until(at, run, lambda r: not r.active, timeout)
    at.run()
    assert not at.exception


def test_opens_on_the_quick_recipe_and_picking_reference_refills_every_field(at):
    for recipe, expected in (("quick", preset("quick")), ("reference", TrainConfig())):
        if recipe != at.radio(key="train_preset").value:
            at.radio(key="train_preset").set_value(recipe).run()
        assert not at.exception
        for field in FIELDS:
            assert widget(at, field).value == pytest.approx(getattr(expected, field)), (recipe, field)
    assert not at.button(key="train_start").disabled
    assert at.button(key="train_stop").disabled
    assert at.info  # "No run yet"
    options = at.sidebar.selectbox[0].options
    assert options[0] == "reference-d4" and not any("(this session)" in o for o in options)


def test_train_save_and_the_run_appears_in_the_sidebar(at, runs_dir):
    worker = start_tiny(at)
    assert at.button(key="train_start").disabled and not at.button(key="train_stop").disabled
    rerun_until_done(at, worker)
    assert worker.status == "finished"
    assert len(at.session_state[WORKER].history) == 1
    assert at.query_params["run"] in (worker.run_id, [worker.run_id])  # a reload finds it
    assert at.get("progress")[0].value == 100
    assert at.get("plotly_chart")  # the live loss chart
    assert at.get("image")  # the original / corrupted / reconstructed preview

    at.text_input(key="train_save_name").set_value("smoke")
    at.button(key="train_save_button").click().run()
    assert not at.exception and not at.error
    assert (runs_dir / "smoke.pt").is_file()
    assert "smoke (this session)" in at.sidebar.selectbox[0].options
    assert "smoke (this session)" in at.multiselect[0].value  # overlaid in the comparison


def test_a_bad_or_taken_name_is_an_error_and_the_run_is_kept(at, runs_dir):
    worker = start_tiny(at)
    rerun_until_done(at, worker)
    (runs_dir / "taken.pt").write_bytes(b"not mine")
    for name, words in [("../escape", "checkpoint name"), ("taken", "already exists")]:
        at.text_input(key="train_save_name").set_value(name)
        at.button(key="train_save_button").click().run()
        assert not at.exception
        assert words in at.error[0].value
        assert at.session_state[WORKER] is worker
    assert sorted(p.name for p in runs_dir.parent.rglob("*.pt")) == ["taken.pt"]  # nothing escaped
    assert (runs_dir / "taken.pt").read_bytes() == b"not mine"
    at.text_input(key="train_save_name").set_value("retry")
    at.button(key="train_save_button").click().run()
    assert not at.error and (runs_dir / "retry.pt").is_file()


@pytest.mark.parametrize("field, value, words", [
    ("lr", 0.0, "lr must be in (0.0, 10.0]"),
    ("val_fraction", 0.0, "val_fraction"),
])
def test_an_impossible_setting_is_an_error_not_a_traceback(at, field, value, words):
    widget(at, field).set_value(value)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert words in at.error[0].value
    assert WORKER not in at.session_state


def test_salt_pepper_strength_above_one_is_refused(at):
    widget(at, "noise").set_value("salt_pepper")
    widget(at, "noise_strength").set_value(2.0)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "noise_strength" in at.error[0].value


@pytest.mark.parametrize("status, shown", [("diverged", "{}"), ("failed", "Failed: {}")])
def test_a_diverged_or_failed_run_shows_the_run_message(app_test, status, shown):
    run = RunHandle("abc123", RunRequest(TrainConfig(train_subset=300, epochs=1).to_dict(), 1))
    run.status, run.message = status, f"loss became nan in epoch 1 ({status})"
    at = app_test(PAGE, session_state={WORKER: run})
    assert [e.value for e in at.error] == [shown.format(run.message)]


def test_a_queued_run_shows_its_place_and_no_chart(app_test):
    run = RunHandle("abc123", RunRequest(TrainConfig(train_subset=300, epochs=1).to_dict(), 1))
    run.position, run.refresh = 2, lambda: None  # what the scheduler said; no Ray here
    at = app_test(PAGE, session_state={WORKER: run})
    assert "Queued: 2nd in line" in at.get("progress")[0].proto.text
    assert not loss_chart(at) and not [i for i in at.info if "preview appears" in i.value]
    run.status = "running"  # the next poll: it trains
    at.run()
    assert loss_chart(at)


def loss_chart(at: AppTest) -> list:
    return [c for c in at.get("plotly_chart") if c.key == "train_loss_chart"]


def test_a_run_that_failed_after_an_epoch_can_still_be_saved(app_test, runs_dir, ckpt_path):
    payload = ckpt_io.read_payload(ckpt_path)
    run = RunHandle("abc123", RunRequest(payload["config"], 5, resume=payload))
    run.status, run.message = "failed", "the training process exited unexpectedly"
    at = app_test(PAGE, session_state={WORKER: run})
    assert "exited unexpectedly" in at.error[0].value
    at.text_input(key="train_save_name").set_value("rescued")
    at.button(key="train_save_button").click().run()
    assert ckpt_io.load(runs_dir / "rescued.pt").history == payload["history"]


def test_a_url_naming_an_unknown_run_is_a_notice_not_an_error(app_test):
    at = app_test(PAGE, query_params={"run": "0123456789ab"})
    assert not at.exception and not at.error
    assert "not on this server" in at.warning[0].value
    assert "run" not in at.query_params


def test_stop_then_continue_for_more_epochs(at):
    worker = start_tiny(at, epochs=500)
    rerun_until(at, worker, lambda r: r.history)
    at.button(key="train_stop").click().run()
    rerun_until_done(at, worker)
    assert worker.status == "stopped" and at.warning
    done = len(worker.history)
    at.number_input(key="train_more").set_value(1)
    at.button(key="train_continue_button").click().run()
    more = at.session_state[WORKER]
    assert more is not worker and more.request.resume is worker.payload  # goes on from its checkpoint
    assert more.batches[:len(worker.batches)] == worker.batches  # the curve is carried over
    rerun_until_done(at, more)
    assert more.status == "finished"
    assert len(more.history) == done + 1 and more.history[:done] == worker.history


def test_progress_text_has_epoch_batch_eta_and_speed():
    from types import SimpleNamespace

    from dae_core.train import BatchStats
    from ui.train_ui import progress

    history = [{"epoch": 1, "seconds": 10.0}]
    running = SimpleNamespace(status="running", history=history, last_batch=BatchStats(2, 5, 10, 0.1, 5.0, 1234.0),
                              epochs_planned=4, first_epoch=1, started=100.0, position=0)
    fraction, text = progress(running, now=115.0)  # 1.5 of 4 epochs in 15 s -> 25 s to go
    assert fraction == pytest.approx(1.5 / 4)
    assert text == "Epoch 2/4 · batch 5/10 · ETA 25s · 1,234 images/s"
    stopped = SimpleNamespace(**{**vars(running), "status": "stopped", "last_batch": None})
    assert progress(stopped, now=200.0) == (0.25, "Stopped: 1 of 4 epochs in 10s")
    for position, place in [(2, "2nd"), (11, "11th"), (23, "23rd")]:
        queued = SimpleNamespace(**{**vars(running), "status": "queued", "position": position})
        assert progress(queued, now=200.0)[1].startswith(f"Queued: {place} in line")


def test_a_huge_learning_rate_ends_with_the_diverged_message(at):
    widget(at, "schedule").set_value("constant")  # no warm-up: the first steps blow up
    widget(at, "lr").set_value(10.0)
    worker = start_tiny(at, epochs=2)
    rerun_until_done(at, worker)
    assert worker.status == "diverged"
    assert "learning rate" in at.error[0].value


def test_a_failed_save_replaces_the_earlier_saved_message_and_names_no_server_path(at, runs_dir, monkeypatch):
    worker = start_tiny(at)
    rerun_until_done(at, worker)
    at.text_input(key="train_save_name").set_value("first")
    at.button(key="train_save_button").click().run()
    assert [s.value for s in at.success] and "first" in at.success[0].value
    assert str(runs_dir) not in at.success[0].value

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("dae_core.checkpoint.os.replace", no_space)
    at.text_input(key="train_save_name").set_value("second")
    at.button(key="train_save_button").click().run()
    assert not at.exception and not at.success  # no stale "Saved as first" above the error
    assert len(at.error) == 1 and "No space left" in at.error[0].value
    assert str(runs_dir) not in at.error[0].value and str(runs_dir.resolve()) not in at.error[0].value
