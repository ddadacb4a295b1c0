"""The Train page in AppTest: form, start -> finish -> save -> sidebar, errors, stop, continue."""
import dataclasses
import time

import pytest
from streamlit.testing.v1 import AppTest

from dae_core import TrainConfig
from dae_core import checkpoint as ckpt_io
from dae_core.config import preset
from dae_core.serve import runs as run_folders
from ui.words import plain
from ui.worker import RunView

PAGE = "1_Train.py"  # the page the `at` fixture opens
WORKER = "train_worker"
SAVED = "Saved as **{0}** in the runs folder: pick **{1}** in the sidebar to use it on the other pages."
FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]  # a new field needs a widget


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch, inline_jobs):
    """Runs live in a temporary folder, never in the repo's checkpoints/runs/, and their jobs run
    on threads here instead of Ray."""
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs))
    return runs


def folder_run(status: str, message: str = "", checkpoint=None, epochs: int = 1) -> RunView:
    """A run whose folder says `status` (and holds `checkpoint` as its latest epoch's weights)."""
    from dae_core.serve import training

    config = TrainConfig(train_subset=300, epochs=epochs).to_dict()
    history = []
    if checkpoint is not None:
        payload = ckpt_io.read_payload(checkpoint)
        config, history = payload["config"], payload["history"]
    run = run_folders.create(training.runs_dir(), config, max(epochs, len(history)))
    if checkpoint is not None:  # its epochs, as its trainer would have written them
        run_folders.RunWriter(run).epoch(history[0], lambda path: path.write_bytes(checkpoint.read_bytes()))
        for h in history[1:]:
            run_folders.RunWriter(run).epoch(h, lambda path: None)
    if status != "queued":
        run_folders.RunWriter(run).set_status(status, message)
    return RunView(run)


def widget(at: AppTest, field: str):
    key = f"train_{field}"
    matches = [w for w in [*at.number_input, *at.selectbox] if w.key == key]
    assert len(matches) == 1, f"no widget for {field}"
    return matches[0]


def start_tiny(at: AppTest, epochs: int = 1) -> RunView:
    widget(at, "train_subset").set_value(400)
    widget(at, "epochs").set_value(epochs)
    widget(at, "batch_size").set_value(64)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    return at.session_state[WORKER]


def rerun_until(at: AppTest, run: RunView, condition, timeout: float = 180) -> None:
    """Plain reruns poll the run (AppTest runs no fragment timers), as the browser's timer would."""
    deadline = time.monotonic() + timeout
    while not condition(run) and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
        assert not at.exception
    assert condition(run), f"gave up waiting: {run.status} {run.message}"


def rerun_until_done(at: AppTest, run: RunView, timeout: float = 180) -> None:
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


@pytest.mark.slow  # page runs take seconds
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
    label = next(o for o in at.sidebar.selectbox[0].options if o.startswith("smoke ("))  # listed
    assert label in at.multiselect[0].value  # overlaid in the comparison
    (table,) = [m.value for m in at.markdown if m.value.startswith("| Run | Epochs |")]
    assert plain(label) in table  # and in the table of runs (Markdown: no table code in the browser)
    for _ in range(2):  # pressed again (as after Enter in the name box): still saved, no error
        assert [s.value for s in at.success] == [SAVED.format("smoke", label)]
        assert at.button(key="train_save_button").label == "Save a copy"
        at.button(key="train_save_button").click().run()
        assert not at.exception and not at.error
    assert sorted(p.name for p in runs_dir.glob("*.pt")) == ["smoke.pt"]
    assert (runs_dir / "smoke.pt").stat().st_ino == worker.checkpoint_path.stat().st_ino  # no copy


@pytest.mark.slow  # page runs take seconds
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
    saved = [p for p in runs_dir.parent.rglob("*.pt") if p.parent.parent != runs_dir]  # not a run's own
    assert [p.name for p in saved] == ["taken.pt"]  # nothing escaped
    assert (runs_dir / "taken.pt").read_bytes() == b"not mine"
    at.text_input(key="train_save_name").set_value("retry")
    at.button(key="train_save_button").click().run()
    assert not at.error and (runs_dir / "retry.pt").is_file()


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("field, value, words", [
    ("lr", 0.0, "Learning rate (lr) must be above 0 and at most 10; you entered 0"),
    ("val_fraction", 0.0, "Validation fraction (val_fraction) must be above 0 and at most 0.9; you entered 0"),
])
def test_an_impossible_setting_is_named_by_its_label_beside_start(at, field, value, words):
    widget(at, field).set_value(value)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert [e.value for e in form(at).error] == [f"Not started: {words}"]  # in the form, beside Start
    assert WORKER not in at.session_state


@pytest.mark.slow  # page runs take seconds
def test_a_negative_learning_rate_cannot_be_entered(at):
    """The box's minimum is 0, so the browser refuses -0.01 as it is typed (and does not submit
    the form); a value forged past it is not taken either."""
    lr = widget(at, "lr")
    assert lr.min == 0.0 and lr.max == 10.0
    lr.set_value(-0.01).run()
    assert not at.exception and widget(at, "lr").value == pytest.approx(preset("quick").lr)


@pytest.mark.slow  # page runs take seconds
def test_salt_pepper_strength_above_one_is_refused(at):
    widget(at, "noise").set_value("salt_pepper")
    widget(at, "noise_strength").set_value(2.0)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "Noise strength (noise_strength) must be between 0 and 1 for salt_pepper noise; you entered 2" \
        in at.error[0].value


def form(at: AppTest, key: str = "train_config"):
    return next(f for f in at.get("form") if f.proto.form.form_id == key)


@pytest.mark.slow  # page runs take seconds
def test_enter_in_a_field_does_not_start_a_run(at):
    """Only a click on Start submits the settings: in the browser, Enter commits a field's value."""
    assert form(at).proto.form.enter_to_submit is False
    widget(at, "epochs").set_value(3).run()
    assert not at.exception and WORKER not in at.session_state


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("status, shown", [("diverged", "{}"), ("failed", "Failed: {}")])
def test_a_diverged_or_failed_run_shows_the_run_message(app_test, status, shown):
    run = folder_run(status, f"loss became nan in epoch 1 ({status})")
    at = app_test(PAGE, session_state={WORKER: run})
    assert [e.value for e in at.error] == [shown.format(run.message)]


@pytest.mark.slow  # page runs take seconds
def test_a_queued_run_shows_its_place_and_no_chart(app_test, monkeypatch):
    from dae_core.serve import jobs

    monkeypatch.setattr(jobs, "state", lambda job_id: jobs.JobState("queued", place=2, queued=3))
    run = folder_run("queued")
    at = app_test(PAGE, session_state={WORKER: run})
    assert "Queued: 2nd in line" in at.get("progress")[0].proto.text
    assert not loss_chart(at) and not [i for i in at.info if "preview appears" in i.value]
    run_folders.RunWriter(run.run).set_status("running")  # the trainer began, with no loss reported yet
    at.run()
    assert not loss_chart(at) and "first batches" in at.info[0].value  # no empty axes
    writer = run_folders.RunWriter(run.run)
    for x, loss in [(0.1, 0.2), (0.2, 0.1)]:
        writer.batch(run_folders.Batch(x, loss, 1, int(x * 10), 10, 1.0, 100.0))
    at.run()
    assert loss_chart(at)


def loss_chart(at: AppTest) -> list:
    return [c for c in at.get("plotly_chart") if c.key == "train_loss_chart"]


@pytest.mark.slow  # page runs take seconds
def test_a_run_that_failed_after_an_epoch_can_still_be_saved(app_test, runs_dir, ckpt_path):
    payload = ckpt_io.read_payload(ckpt_path)
    run = folder_run("failed", "the training process exited unexpectedly", checkpoint=ckpt_path, epochs=5)
    at = app_test(PAGE, session_state={WORKER: run})
    assert "exited unexpectedly" in at.error[0].value
    at.text_input(key="train_save_name").set_value("rescued")
    at.button(key="train_save_button").click().run()
    assert ckpt_io.load(runs_dir / "rescued.pt").history == payload["history"]


@pytest.mark.slow  # page runs take seconds
@pytest.mark.parametrize("name", ["0123456789ab", "../../etc/passwd", "20261207-061502-3fa2c1"])
def test_a_url_naming_no_run_says_there_is_none(app_test, name):
    at = app_test(PAGE, query_params={"run": name})
    assert not at.exception and not at.error
    assert at.warning[0].value.startswith(f"There is no run named {plain(name)} on this server")
    assert "run" not in at.query_params


def test_a_url_naming_a_run_on_disk_opens_it_as_a_restarted_server_would(app_test, ckpt_path):
    run = folder_run("finished", "finished 1 epoch", checkpoint=ckpt_path)
    at = app_test(PAGE, query_params={"run": run.run_id})  # a fresh session: nothing in memory
    assert not at.exception and at.session_state[WORKER].run_id == run.run_id
    assert at.get("progress")[0].value == 100 and at.text_input(key="train_save_name")


@pytest.mark.slow  # page runs take seconds
def test_stop_then_continue_for_more_epochs(at):
    worker = start_tiny(at, epochs=500)
    rerun_until(at, worker, lambda r: r.history)
    at.button(key="train_stop").click().run()
    rerun_until_done(at, worker)
    assert worker.status == "stopped" and at.warning
    done = len(worker.history)
    assert form(at, "train_continue").proto.form.enter_to_submit is False  # Enter trains nothing
    at.number_input(key="train_more").set_value(1)
    at.button(key="train_continue_button").click().run()
    more = at.session_state[WORKER]
    assert more.run_id != worker.run_id  # a run of its own, from the stopped one's checkpoint
    assert more.run.start_path.read_bytes() == worker.checkpoint_path.read_bytes()
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
                              epochs_planned=4, first_epoch=1, started=100.0, position=0, message="")
    fraction, text = progress(running)  # 1.5 of 4 epochs done, 10 s an epoch -> 25 s to go
    assert fraction == pytest.approx(1.5 / 4)
    assert text == "Epoch 2/4 · batch 5/10 · ETA 25s · 1,234 images/s"
    # The ETA is epochs left x seconds an epoch, read from the reports alone (no clock): it cannot
    # grow while the batch count stands still between two reports.
    first = SimpleNamespace(**{**vars(running), "history": [], "last_batch": BatchStats(1, 2, 10, 0.1, 4.0, 1.0)})
    assert "ETA 1m 16s" in progress(first)[1]  # no epoch done yet: 2 s a batch, 20 s an epoch, 3.8 to go
    stopped = SimpleNamespace(**{**vars(running), "status": "stopped", "last_batch": None})
    assert progress(stopped) == (0.25, "Stopped: 1 of 4 epochs in 10s")
    nothing = SimpleNamespace(**{**vars(stopped), "history": []})
    assert progress(nothing) == (0.0, "Stopped: no epoch of 4 finished")  # not "0 of 4 epochs in 0s"
    one = SimpleNamespace(**{**vars(stopped), "epochs_planned": 1})
    assert progress(one)[1] == "Stopped: 1 of 1 epoch in 10s"
    for status, words in [("starting", "Starting the training process"), ("running", "first batches")]:
        waiting = SimpleNamespace(**{**vars(running), "status": status, "last_batch": None})
        assert words in progress(waiting)[1]
    for position, place in [(2, "2nd"), (11, "11th"), (23, "23rd")]:
        queued = SimpleNamespace(**{**vars(running), "status": "queued", "position": position})
        assert progress(queued)[1].startswith(f"Queued: {place} in line")


@pytest.fixture
def ended(helpers):
    """Two finished runs, trained here without Ray: what a page holds once a job has ended."""
    cfg = TrainConfig(train_subset=300, epochs=1, batch_size=64, device="cpu")
    return helpers.ended_run(cfg), helpers.ended_run(dataclasses.replace(cfg, seed=1))


@pytest.mark.slow  # two runs trained first
def test_start_asks_before_replacing_an_unsaved_run(app_test, ended, monkeypatch):
    old, new = ended
    started = []
    monkeypatch.setattr("ui.worker.start", lambda config, **kw: started.append(config) or new)
    at = app_test(PAGE, session_state={WORKER: old})
    at.button(key="train_start").click().run()
    assert not at.exception and not started and at.session_state[WORKER] is old
    assert "not saved" in at.warning[0].value
    at.button(key="train_keep").click().run()  # keep it: the question goes, the run stays
    assert not [w for w in at.warning if "not saved" in w.value] and at.session_state[WORKER] is old
    at.button(key="train_start").click().run()
    at.button(key="train_discard").click().run()  # the user chose to lose it
    assert not at.exception and len(started) == 1 and at.session_state[WORKER] is new


@pytest.mark.slow  # two runs trained first
def test_start_after_saving_replaces_the_run_without_asking(app_test, ended, monkeypatch, runs_dir):
    old, new = ended
    monkeypatch.setattr("ui.worker.start", lambda config, **kw: new)
    at = app_test(PAGE, session_state={WORKER: old})
    at.text_input(key="train_save_name").set_value("kept")
    at.button(key="train_save_button").click().run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.warning and at.session_state[WORKER] is new
    assert (runs_dir / "kept.pt").is_file()


@pytest.mark.slow  # two runs trained first
def test_two_runs_saved_under_one_name_the_second_is_told_it_is_taken(app_test, ended, runs_dir):
    first, second = ended
    outcomes = []
    for run in (first, second):
        at = app_test(PAGE, session_state={WORKER: run})
        at.text_input(key="train_save_name").set_value("same")
        at.button(key="train_save_button").click().run()
        outcomes.append(([s.value for s in at.success], [e.value for e in at.error]))
    assert outcomes[0][1] == [] and outcomes[0][0][0].startswith("Saved as **same** in the runs folder")
    assert not outcomes[1][0] and "already exists" in outcomes[1][1][0]
    assert ckpt_io.load(runs_dir / "same.pt").history == first.history and second.saved_name is None


@pytest.mark.slow  # two runs trained first
def test_the_history_downloads_as_csv(app_test, ended):
    at = app_test(PAGE, session_state={WORKER: ended[0]})
    button = [b for b in at.get("download_button") if b.proto.label == "Download the history (CSV)"]
    assert len(button) == 1


@pytest.mark.slow  # page runs take seconds
def test_a_huge_learning_rate_ends_with_the_diverged_message(at):
    widget(at, "schedule").set_value("constant")  # no warm-up: the first steps blow up
    widget(at, "lr").set_value(10.0)
    worker = start_tiny(at, epochs=2)
    rerun_until_done(at, worker)
    assert worker.status == "diverged"
    assert "learning rate" in at.error[0].value


@pytest.mark.slow  # page runs take seconds
def test_a_failed_save_replaces_the_earlier_saved_message_and_names_no_server_path(at, runs_dir, monkeypatch):
    worker = start_tiny(at)
    rerun_until_done(at, worker)
    at.text_input(key="train_save_name").set_value("first")
    at.button(key="train_save_button").click().run()
    assert [s.value for s in at.success] and "first" in at.success[0].value
    assert str(runs_dir) not in at.success[0].value

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("dae_core.serve.disk.os.link", no_space)
    at.text_input(key="train_save_name").set_value("second")
    at.button(key="train_save_button").click().run()
    assert not at.exception and not at.success  # no stale "Saved as first" above the error
    assert len(at.error) == 1 and "No space left" in at.error[0].value
    assert str(runs_dir) not in at.error[0].value and str(runs_dir.resolve()) not in at.error[0].value


@pytest.mark.slow  # two runs trained first
def test_the_runs_table_lists_the_servers_runs_with_links(app_test, ended):
    run = ended[0]
    at = app_test(PAGE)
    (table,) = [m.value for m in at.markdown if m.value.startswith("| Run | Model |")]
    assert f"[{run.run_id}](/Train?run={run.run_id})" in table and "not saved" in table
    run.save("listed")
    at.run()
    (table,) = [m.value for m in at.markdown if m.value.startswith("| Run | Model |")]
    assert "listed" in table


@pytest.mark.slow  # two runs trained first
def test_an_unsaved_run_can_be_discarded(app_test, ended):
    run = ended[0]
    at = app_test(PAGE, session_state={WORKER: run})
    at.button(key="train_discard_run").click().run()
    assert not at.exception and not run.run.folder.exists()
    assert WORKER not in at.session_state and "run" not in at.query_params


@pytest.mark.slow  # two runs trained first
def test_a_run_this_session_saved_can_be_deleted_after_a_confirm(app_test, ended, runs_dir):
    run = ended[0]
    at = app_test(PAGE, session_state={WORKER: run})
    at.text_input(key="train_save_name").set_value("doomed")
    at.button(key="train_save_button").click().run()
    assert (runs_dir / "doomed.pt").is_file()
    at.button(key="train_delete").click().run()
    assert (runs_dir / "doomed.pt").is_file()  # asked first
    at.button(key="train_delete_yes").click().run()
    assert not at.exception and not (runs_dir / "doomed.pt").exists()
    assert not any(o.startswith("doomed") for o in at.sidebar.selectbox[0].options)


@pytest.mark.slow  # two runs trained first
def test_save_is_refused_in_one_line_when_the_runs_folder_is_full(app_test, ended, runs_dir, monkeypatch):
    monkeypatch.setenv("DAE_RUNS_MAX_MB", "1")
    (runs_dir / "big.pt").write_bytes(b"\0" * (2 * 1024 * 1024))  # a saved run filling the folder
    at = app_test(PAGE, session_state={WORKER: ended[0]})
    at.text_input(key="train_save_name").set_value("one-more")
    at.button(key="train_save_button").click().run()
    assert not at.exception and not (runs_dir / "one-more.pt").exists()
    (error,) = [e.value for e in at.error]
    assert "runs folder is full" in error and "\n" not in error and str(runs_dir) not in error
