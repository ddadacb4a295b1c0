"""dae_core.jobs on a local Ray: a run trains in its own process, queues behind the cap, stops,
is cancelled, and a killed worker fails that run only."""
import os
import signal
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
import ray
from ray.exceptions import RayActorError

from dae_core import TrainConfig, jobs, scheduler
from dae_core import checkpoint as ckpt_io
from dae_core.errors import DaeError
from dae_core.runs import RunRequest, TrainingRun
from dae_core.scheduler import Scheduler

TINY = TrainConfig(train_subset=400, epochs=1, batch_size=64, device="cpu")
LONG = replace(TINY, epochs=500)


def request(cfg: TrainConfig) -> RunRequest:
    return RunRequest(cfg.to_dict(), cfg.epochs)


@pytest.fixture(scope="module")
def one_slot():
    """A local Ray, and a queue of its own that lets one run train at a time."""
    jobs.connect()
    before = scheduler._handle
    scheduler._handle = Scheduler.remote(1)
    yield scheduler._handle
    scheduler._handle = before


def until(handle, condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition(handle) and time.monotonic() < deadline:
        handle.refresh()
        time.sleep(0.1)
    assert condition(handle), f"gave up waiting: {handle.status} {handle.message}"


def worker_pid(handle) -> int:
    return ray.get(handle._actor.__ray_call__.remote(lambda run: os.getpid()))


def thread_niceness(pid: int) -> set:
    """The nice value of every thread of process `pid` (field 19 of /proc/PID/task/TID/stat)."""
    values = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            values.add(int(f.read().rsplit(")", 1)[1].split()[16]))
    return values


def test_a_run_trains_in_another_process_and_saves(one_slot, tmp_path):
    handle = jobs.submit(request(TINY))
    handle.wait(180)
    assert handle.status == "finished", handle.message
    assert [h["epoch"] for h in handle.history] == [1] and handle.batches
    assert handle.model() is not None and handle.model_epoch == 1
    path = handle.save("from-ray", tmp_path)
    assert ckpt_io.load(path).history == handle.history
    with pytest.raises(DaeError, match="already exists"):
        handle.save("from-ray", tmp_path)


def test_runs_past_the_cap_wait_in_order_and_a_cancelled_one_never_trains(one_slot):
    first, second, third = (jobs.submit(request(cfg)) for cfg in (LONG, TINY, TINY))
    until(first, lambda h: h.status == "running")
    for handle in (second, third):
        handle.refresh()
    assert (second.status, second.position) == ("queued", 1)
    assert (third.status, third.position) == ("queued", 2)
    assert worker_pid(first) != os.getpid()
    # Ray runs its workers' task threads niced (RAY_worker_niceness), so the app's pages come first
    assert max(thread_niceness(worker_pid(first))) > os.nice(0)
    second.stop()  # cancel while queued
    until(second, lambda h: not h.active)
    assert second.status == "stopped" and "queued" in second.message and second.history == []
    third.refresh()
    assert third.position == 1  # moved up
    until(first, lambda h: h.history)
    first.stop()
    until(first, lambda h: not h.active)
    assert first.status == "stopped" and first.payload is not None  # finished epochs are kept
    third.wait(180)
    assert third.status == "finished"


def test_an_ended_run_nobody_reads_frees_its_cores_for_the_next(one_slot, monkeypatch):
    """A run's worker holds its cores for its lifetime: the Scheduler must end it when the run
    ends, not when its owner (a closed tab, a caller busy with another run) reads the result."""
    every_cpu = int(ray.cluster_resources()["CPU"])
    monkeypatch.setattr(jobs, "run_options", lambda config: {"num_cpus": every_cpu, "max_concurrency": 4})
    unread, queued = jobs.submit(request(TINY)), jobs.submit(request(TINY))
    queued.wait(180)  # only the second run is polled
    assert queued.status == "finished", (queued.status, queued.message)
    unread.wait(30)  # read late: the whole run is still there, from the Scheduler
    assert unread.status == "finished" and [h["epoch"] for h in unread.history] == [1]
    assert unread.batches[-1][0] == 1.0 and unread.model() is not None


def test_kill_9_of_a_worker_fails_that_run_and_the_next_one_trains(one_slot):
    doomed, after = jobs.submit(request(LONG)), jobs.submit(request(TINY))
    until(doomed, lambda h: h.history)  # one epoch done: it can be saved after the failure
    os.kill(worker_pid(doomed), signal.SIGKILL)
    until(doomed, lambda h: not h.active)
    assert doomed.status == "failed" and "exited unexpectedly" in doomed.message
    assert doomed.payload is not None and doomed.model_epoch >= 1
    after.wait(180)
    assert after.status == "finished"


CONCURRENT = """
import threading
from dae_core import TrainConfig, jobs
from dae_core.runs import RunRequest
cfg = TrainConfig(train_subset=400, epochs=1, batch_size=64, device="cpu")
handles = []
def start():
    handles.append(jobs.submit(RunRequest(cfg.to_dict(), 1)))
threads = [threading.Thread(target=start) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
for h in handles: h.wait(300)
print(sorted(h.status for h in handles))
"""


def test_a_dead_queue_is_created_again_by_the_next_submit(one_slot, monkeypatch):
    doomed = Scheduler.remote(1)
    monkeypatch.setattr(scheduler, "_handle", doomed)
    ray.kill(doomed)
    with pytest.raises(RayActorError):
        ray.get(doomed.place.remote("any"), timeout=30)
    handle = jobs.submit(request(TINY))
    handle.wait(180)
    assert handle.status == "finished", handle.message
    assert scheduler._handle is not doomed


def test_runs_submitted_at_once_on_a_fresh_local_ray_all_train():
    """Several sessions pressing Start together create the queue once and keep it."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(jobs.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", CONCURRENT], capture_output=True, text=True,
                          timeout=600, cwd=root, env={**os.environ, "DAE_MAX_RUNS": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(["finished"] * 3)


@pytest.mark.parametrize("value, expected", [("3", 3), ("1", 1)])
def test_max_runs_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("DAE_MAX_RUNS", value)
    assert scheduler.max_runs() == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_max_runs_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv("DAE_MAX_RUNS", value)
    with pytest.raises(DaeError, match="DAE_MAX_RUNS"):
        scheduler.max_runs()


def test_by_default_every_two_cores_train_one_run(monkeypatch):
    monkeypatch.delenv("DAE_MAX_RUNS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert scheduler.max_runs() == 4
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert scheduler.max_runs() == 1


class AnswerNow:
    """Stands in for a run's actor: poll.remote() answers at once from a TrainingRun in a thread."""

    def __init__(self, run: TrainingRun):
        self.poll = SimpleNamespace(remote=lambda *seen: SimpleNamespace(value=run.poll(*seen)))


def followed(run: TrainingRun, tabs: int) -> jobs.RunHandle:
    """A handle on `run` refreshed by `tabs` threads at once until the run ends."""
    handle, errors = jobs.RunHandle("two-tabs", run.request), []
    handle._actor = AnswerNow(run)

    def tab():
        try:
            while handle.active:
                handle.refresh()
                time.sleep(0.001)
        except Exception as e:  # noqa: BLE001  what a page would show in an exception box
            errors.append(e)

    threads = [threading.Thread(target=tab) for _ in range(tabs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return handle


def test_two_tabs_refreshing_one_run_see_the_curve_one_tab_sees(monkeypatch):
    def get(ref, timeout=None):
        time.sleep(0.002)  # another tab's refresh runs between taking an answer and merging it
        return ref.value

    monkeypatch.setattr(jobs, "ray", SimpleNamespace(wait=lambda refs, timeout: (refs, []), get=get))
    monkeypatch.setattr(jobs.RunHandle, "_forget", lambda self: None)  # no queue to release from
    run = TrainingRun(request(replace(TINY, epochs=3, batch_size=8)))
    trainer = threading.Thread(target=run.train)
    trainer.start()
    two = followed(run, tabs=2)
    trainer.join(120)
    one = followed(run, tabs=1)
    everything = run.poll()
    assert len(everything.batches) == 12  # 40 batches an epoch, reported every 10
    assert two.batches == one.batches == everything.batches
    assert two.history == one.history == everything.history and two.status == "finished"
    assert two.model_epoch == 3
