"""dae_core.tasks on a real local Ray, with tiny functions: one task per key however many ask, a
bounded FIFO queue, cancel that ends the worker, a killed worker that fails one ticket only, no
thread per ask, and nothing kept once every asker has read the end."""
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import ray

from dae_core import ray_start, tasks
from dae_core.analyses import RayRunner

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


def record_run(folder: str, value):
    """Notes one run in `folder`, returns value * 2."""
    (Path(folder) / f"run-{os.getpid()}-{time.monotonic_ns()}").touch()
    return value * 2


def nap(seconds: float, value):
    time.sleep(seconds)
    return value


def hold(folder: str, name: str):
    """Writes its worker's pid to folder/name.pid, then waits while folder/name.hold exists."""
    folder = Path(folder)
    (folder / f"{name}.pid").write_text(str(os.getpid()))
    while (folder / f"{name}.hold").exists():
        time.sleep(0.05)
    return os.getpid()


def broken():
    raise ValueError("no good\nsecond line")


@pytest.fixture(scope="module")
def ray_up():
    ray_start.connect()


@pytest.fixture
def board(ray_up, monkeypatch):
    monkeypatch.delenv("DAE_MAX_TASKS", raising=False)
    return tasks.Board(RayRunner())


def until_ended(board, *tickets, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [board.poll(t) for t in tickets]
        if all(s.ended for s in states):
            return states
        time.sleep(0.05)
    raise AssertionError(f"not ended within {timeout} s: {states}")


def wait_for(check, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_two_asks_of_one_key_run_one_task_and_both_get_the_result(board, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="dae_core.tasks"):
        first = board.ask(("m", "x", 1), record_run, str(tmp_path), 21, label="doubling 21")
        second = board.ask(("m", "x", 1), record_run, str(tmp_path), 21, label="doubling 21")
        a, b = until_ended(board, first, second)
    assert a.status == b.status == "done" and a.result == b.result == 42
    assert len(list(tmp_path.iterdir())) == 1  # one run
    lines = [r.getMessage() for r in caplog.records]
    assert lines.count("analysis asked: doubling 21") == 2
    assert lines.count("analysis started: doubling 21") == 1
    assert board.counts() == {"queued": 0, "running": 0, "ended": 0}  # read by both: dropped
    assert board.poll(first).result == 42  # the ticket keeps what it read


def test_one_task_at_a_time_the_others_wait_in_order(board, monkeypatch):
    monkeypatch.setenv("DAE_MAX_TASKS", "1")
    tickets = [board.ask(("m", "nap", i), nap, 1.0, i, label=f"nap {i}") for i in range(3)]
    states = [board.poll(t) for t in tickets]
    assert [s.status for s in states] == ["running", "queued", "queued"]
    assert [(s.place, s.queued) for s in states[1:]] == [(1, 2), (2, 2)]
    assert [s.result for s in until_ended(board, *tickets)] == [0, 1, 2]


def test_a_bad_limit_is_one_line(board, monkeypatch):
    monkeypatch.setenv("DAE_MAX_TASKS", "two")
    ticket = board.ask(("m", "nap", "bad"), nap, 0, 1, label="nap")
    with pytest.raises(tasks.ConfigError, match="DAE_MAX_TASKS must be a whole number"):
        board.poll(ticket)


def test_cancelling_the_last_asker_ends_its_worker_and_others_carry_on(board, tmp_path):
    (tmp_path / "long.hold").touch()
    long = board.ask(("m", "long"), hold, str(tmp_path), "long", label="long")
    other = board.ask(("m", "short"), nap, 1.0, "kept", label="short")
    joined = board.ask(("m", "long"), hold, str(tmp_path), "long", label="long")
    assert wait_for(lambda: board.poll(long) and (tmp_path / "long.pid").exists())
    pid = int((tmp_path / "long.pid").read_text())
    board.cancel(joined)
    assert board.poll(long).status == "running"  # another asker is left
    board.cancel(long)
    assert board.poll(long).status == "cancelled"
    assert wait_for(lambda: not alive(pid), 30)  # its worker process has exited
    assert until_ended(board, other)[0].result == "kept"


def test_a_killed_worker_fails_its_ticket_in_one_line_and_try_again_works(board, tmp_path, caplog):
    (tmp_path / "k.hold").touch()
    doomed = board.ask(("m", "k"), hold, str(tmp_path), "k", label="held")
    other = board.ask(("m", "other"), nap, 1.5, "fine", label="other")
    assert wait_for(lambda: board.poll(doomed) and (tmp_path / "k.pid").exists())
    pid = int((tmp_path / "k.pid").read_text())
    with caplog.at_level(logging.ERROR, logger="dae_core.tasks"):
        os.kill(pid, signal.SIGKILL)
        (state,) = until_ended(board, doomed)
    assert state.status == "failed" and "exited unexpectedly" in state.message
    assert "\n" not in state.message
    assert any(r.getMessage() == "analysis failed: held" for r in caplog.records)
    assert until_ended(board, other)[0].result == "fine"
    (tmp_path / "k.hold").unlink()
    again = board.ask(("m", "k"), hold, str(tmp_path), "k", label="held")  # Try again
    (state,) = until_ended(board, again)
    assert state.status == "done" and state.result != pid


def test_an_exception_fails_in_one_line_and_is_logged_with_its_traceback(board, caplog):
    with caplog.at_level(logging.ERROR, logger="dae_core.tasks"):
        (state,) = until_ended(board, board.ask(("m", "broken"), broken, label="broken"))
    assert state.status == "failed" and state.message == "ValueError: no good second line"
    (record,) = [r for r in caplog.records if r.getMessage() == "analysis failed: broken"]
    assert record.exc_info and "no good" in str(record.exc_info[1])


def test_many_asks_start_no_thread(board, tmp_path):
    until_ended(board, board.ask(("m", "warm"), nap, 0, 0, label="warm-up"))
    before = threading.active_count()
    tickets = [board.ask(("m", "many", i % 10), nap, 0, i % 10, label="many") for i in range(40)]
    states = until_ended(board, *tickets)
    assert [s.result for s in states] == [i % 10 for i in range(40)]
    assert threading.active_count() <= before


def test_a_task_nobody_polls_any_more_is_ended(board, tmp_path, monkeypatch):
    (tmp_path / "gone.hold").touch()
    gone = board.ask(("m", "gone"), hold, str(tmp_path), "gone", label="gone")
    assert wait_for(lambda: board.poll(gone) and (tmp_path / "gone.pid").exists())
    pid = int((tmp_path / "gone.pid").read_text())
    monkeypatch.setattr(tasks, "ABANDONED_S", 0.0)  # as if nobody had polled it since
    state = board.poll(gone)
    assert state.status == "failed" and "dropped" in state.message
    assert board.counts() == {"queued": 0, "running": 0, "ended": 0}
    assert wait_for(lambda: not alive(pid), 30)


def thread_counts():
    """{library API: threads} as seen where this runs, scikit-learn's OpenMP loaded (after the
    task began: a limit set before must still hold for it)."""
    import sklearn.cluster  # noqa: F401
    from threadpoolctl import threadpool_info

    return {i["user_api"]: i["num_threads"] for i in threadpool_info()}


def test_a_worker_runs_its_task_on_one_thread(board):
    (state,) = until_ended(board, board.ask(("m", "threads"), thread_counts, label="threads"))
    assert state.status == "done" and set(state.result.values()) == {1}


def test_the_quick_fits_in_the_page_limit_only_their_own_thread(monkeypatch, blob_codes):
    """k-means, GMM, t-SNE and the pixel baseline may run on several server threads at once:
    they limit OpenMP, whose thread count is the calling thread's, never BLAS (process-wide)."""
    import threadpoolctl
    import numpy as np

    from dae_core import cluster, embed

    entered, real = [], threadpoolctl.threadpool_limits
    monkeypatch.setattr(threadpoolctl, "threadpool_limits",
                        lambda *a, **kw: entered.append(kw.get("user_api")) or real(*a, **kw))
    cluster.cluster(blob_codes.z_train, 5, "kmeans")
    cluster.cluster(blob_codes.z_train, 5, "gmm")
    embed.tsne_2d(blob_codes.z_train, 50)
    embed.pixel_baseline(np.random.default_rng(0).integers(0, 255, (60, 8, 8), dtype=np.uint8), 3, 0, 5)
    assert len(entered) == 4 and set(entered) == {"openmp"}
