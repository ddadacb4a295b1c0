"""Ray that cannot be started or reached, or that dies: every Start says why in one line within
30 s, holds nothing while it waits, and the next one tries again from scratch."""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray

from dae_core import jobs, ray_start

ROOT = Path(jobs.__file__).resolve().parents[1]
NOWHERE = "127.0.0.1:1"  # loopback, a port nothing listens on


@pytest.fixture
def fresh(monkeypatch):
    """jobs as in a process that has not started Ray; ray.shutdown recorded, not run (another
    test module's Ray may live in this process)."""
    shutdowns = []
    monkeypatch.setattr(ray_start, "_starting", None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "shutdown", lambda *a, **k: shutdowns.append(1))
    return shutdowns


def timed_connect() -> tuple[str, float]:
    """(the JobError's text, seconds until it came)."""
    t0 = time.monotonic()
    with pytest.raises(ray_start.JobError) as error:
        jobs.connect()
    return str(error.value), time.monotonic() - t0


def train_with_ray(tmp_path, **env) -> subprocess.CompletedProcess:
    out = tmp_path / "never.pt"
    return subprocess.run([sys.executable, "-m", "dae_core", "train", "--ray", "--epochs", "1",
                           "--train-subset", "300", "--out", str(out)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **env})


def test_an_address_where_nothing_listens_is_one_line_at_once(fresh, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", NOWHERE)
    message, seconds = timed_connect()
    assert seconds < 30 and "\n" not in message
    assert f"cannot reach the Ray cluster at {NOWHERE}" in message and "RAY_ADDRESS" in message


def test_the_command_line_says_it_in_one_line_and_exits_2(tmp_path):
    t0 = time.monotonic()
    done = train_with_ray(tmp_path, RAY_ADDRESS=NOWHERE)
    assert time.monotonic() - t0 < 30
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"error: cannot reach the Ray cluster at {NOWHERE}")
    assert not (tmp_path / "never.pt").exists()


def test_a_temp_folder_ray_cannot_write_is_one_line(tmp_path):
    folder = tmp_path / "ray-tmp"
    folder.mkdir(mode=0o500)
    if os.access(folder, os.W_OK):  # root writes anywhere: a folder under a plain file cannot be made
        (tmp_path / "a-file").write_text("")
        folder = tmp_path / "a-file" / "ray"
    done = train_with_ray(tmp_path, RAY_TMPDIR=str(folder))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "cannot start training on a local Ray" in done.stderr and "temp folder" in done.stderr


def test_any_exception_from_ray_init_is_one_line_and_the_next_connect_starts_again(
        fresh, monkeypatch, caplog):
    calls = []

    def init(**options):
        calls.append(options)
        if len(calls) == 1:
            raise KeyError("a surprise from inside Ray")

    monkeypatch.setattr(ray, "init", init)
    message, seconds = timed_connect()
    assert seconds < 30 and "\n" not in message
    assert message.startswith("cannot start training on a local Ray: KeyError")
    assert fresh == [1]  # the half-started Ray was shut down
    assert any(r.exc_info for r in caplog.records if r.name == "dae_core.ray_start")  # logged with its traceback
    jobs.connect()  # tries again from scratch, and this time Ray starts
    assert len(calls) == 2


def test_a_start_that_hangs_is_told_in_time_and_blocks_no_other_start(fresh, monkeypatch):
    monkeypatch.setattr(ray_start, "CONNECT_TIMEOUT_S", 0.5)
    release, calls = threading.Event(), []
    monkeypatch.setattr(ray, "init", lambda **options: calls.append(1) or release.wait(30))
    monkeypatch.setattr(ray, "is_initialized", release.is_set)  # up once the slow start returns
    monkeypatch.setattr(ray_start, "_node_alive", lambda: True)
    try:
        message, seconds = timed_connect()
        assert "did not answer within 0.5 s" in message and seconds < 5
        others = []  # another session's Start meanwhile: also told in time, and no second ray.init
        other = threading.Thread(target=lambda: others.append(timed_connect()))
        other.start()
        other.join(5)
        assert others and others[0][1] < 5 and calls == [1]
    finally:
        release.set()
    ray_start._starting.done.wait(5)
    jobs.connect()  # the start that outlasted the wait has succeeded: nothing more to do
    assert calls == [1]



def test_a_ray_whose_node_died_is_shut_down_and_the_next_connect_starts_a_new_one(fresh, monkeypatch):
    """Its raylet killed, Ray is still 'initialized' here: connect() must not trust that."""
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray_start, "_node_alive", lambda: False)
    calls = []
    monkeypatch.setattr(ray, "init", lambda **options: calls.append(options))
    jobs.connect()
    assert fresh == [1] and len(calls) == 1


@pytest.mark.parametrize("address", ["", "10.0.0.1:6379"])
def test_ray_settings_reach_only_a_local_ray_and_only_while_it_starts(fresh, monkeypatch, address):
    """Idle workers given back (no pool of one per CPU) on a local Ray; a cluster's own settings
    are never touched, nor a value the environment already sets."""
    monkeypatch.setenv("RAY_ADDRESS", address)
    monkeypatch.setenv("RAY_prestart_worker_first_driver", "1")  # set by whoever runs the server
    monkeypatch.setattr(ray_start, "_probe", lambda address: None)
    seen = []
    monkeypatch.setattr(ray, "init", lambda **options: seen.append(dict(os.environ)))
    jobs.connect()
    expected = None if address else "0"
    assert seen[0].get("RAY_num_workers_soft_limit") == expected
    keep = None if address else str(ray_start.IDLE_WORKER_KEEP_S * 1000)
    assert seen[0].get("RAY_idle_worker_killing_time_threshold_ms") == keep
    assert seen[0]["RAY_prestart_worker_first_driver"] == "1"
    assert "RAY_num_workers_soft_limit" not in os.environ  # the server's own environment is left as it was
    assert os.environ["RAY_prestart_worker_first_driver"] == "1"


KILL_RAYLET = """
import json, logging, os, signal, time
import ray
from dae_core import TrainConfig, jobs
from dae_core.runs import RunRequest
logging.basicConfig(level=logging.INFO)

def request(epochs):
    cfg = TrainConfig(train_subset=300, epochs=epochs, batch_size=64, device="cpu")
    return RunRequest(cfg.to_dict(), epochs)

def raylet():  # a child of the thread that started Ray
    for task in os.listdir("/proc/self/task"):
        for pid in open(f"/proc/self/task/{task}/children").read().split():
            if open(f"/proc/{pid}/comm").read().strip() == "raylet":
                return int(pid)

doomed = jobs.submit(request(500))
node = ray.get_runtime_context().get_node_id()
while doomed.active and doomed.status != "running":
    doomed.refresh()
    time.sleep(0.1)
task = ray.remote(num_cpus=0)(lambda: os.getpid())  # while the run trains
idle = ray.get(task.remote(), timeout=60)  # a task's worker: idle once its task is done
reused = ray.get(task.remote(), timeout=60) == idle  # warm for the next task
t1 = time.monotonic()
while os.path.exists(f"/proc/{idle}") and time.monotonic() - t1 < 10:
    time.sleep(0.1)
idle_worker_left = os.path.exists(f"/proc/{idle}")
os.kill(raylet(), signal.SIGKILL)
t0 = time.monotonic()
doomed.wait(60, poll_s=0.1)
failed_s = time.monotonic() - t0
after = jobs.submit(request(1))
after.wait(120)
trained_s = time.monotonic() - t0
print(json.dumps({"doomed": [doomed.status, doomed.message], "failed_s": failed_s,
                  "new_node": ray.get_runtime_context().get_node_id() != node,
                  "after": [after.status, after.message], "trained_s": trained_s,
                  "reused": reused, "idle_worker_left": idle_worker_left}))
"""


def test_kill_9_of_the_raylet_fails_the_run_and_the_next_submit_trains_on_a_new_ray():
    """A local Ray whose raylet is killed under a training run: the run fails in one line within
    seconds, the next submit starts a new Ray at once (not ~15 s later, when Ray marks the node
    dead) and trains there; an idle worker serves the next task, then is given back once idle
    (here after 2 s); every worker's log is kept in the folder logged at start."""
    env = {**os.environ, "DAE_MAX_RUNS": "1", "RAY_idle_worker_killing_time_threshold_ms": "2000"}
    done = subprocess.run([sys.executable, "-c", KILL_RAYLET], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    status, message = seen["doomed"]
    assert status == "failed" and message and "\n" not in message
    assert seen["failed_s"] < 15, seen
    assert seen["new_node"] and seen["after"][0] == "finished", seen
    assert seen["trained_s"] < 60, seen
    assert seen["reused"] and not seen["idle_worker_left"], seen
    folders = re.findall(r"every worker's output is kept in (\S+)", done.stderr)
    assert len(folders) == 2  # one line for each local Ray started
    runs = [p for p in Path(folders[0]).glob("worker-*.out") if ":actor_name:TrainingRun" in p.read_text()]
    assert runs  # the killed run's worker log is there, named by its pid
