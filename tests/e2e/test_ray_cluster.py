"""The app against a real two-node Ray cluster on this machine (`ray start --head`, then `ray start
--address`), each node with one run slot: runs spread over the nodes, a third waits in a visible
queue, a killed training process ends its run only (its finished epochs kept), and runs are
saved as with the local Ray. The app reaches the cluster through its job server's URL."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import (LOSS_POINTS, SAVED, app_button, error_texts,  # noqa: E402
                                 free_port, loss_points, open_page, start_server, start_tiny_run,
                                 stop_and_save, stop_server, wait_idle, wait_until)
from dae_harness.procs import descendants  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "token",
       "RAY_USAGE_STATS_ENABLED": "0"}
TRAINING = re.compile(r"Epoch \d+/\d+ · batch")


def start_node(args: list[str], log: Path) -> subprocess.Popen:
    """`ray start --block ...`: one node, in the foreground, until it answers."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([RAY, "start", "--block", "--num-cpus=1", "--disable-usage-stats", *args],
                                env=ENV, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while "Ray runtime started" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.5)
    return proc


def stop_node(proc: subprocess.Popen) -> None:
    """SIGTERM lets `ray start --block` drain and stop every process of its node."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(server, app url, runs folder, [head, second node]) with the app's runs on the cluster."""
    base = tmp_path_factory.mktemp("ray-cluster")
    port, dashboard = free_port(), free_port()
    slots = '{"dae_run": 1, "dae_analysis": 1}'  # what docs/deploy.md tells an operator to declare
    nodes = [start_node(["--head", f"--port={port}", "--dashboard-host=127.0.0.1",
                         f"--dashboard-port={dashboard}", f"--resources={slots}"], base / "head.log")]
    try:
        nodes.append(start_node([f"--address=127.0.0.1:{port}", "--dashboard-agent-listen-port=0",
                                 "--metrics-export-port=0", f"--resources={slots}"], base / "node.log"))
        runs = base / "runs"
        runs.mkdir()
        proc, url = start_server(runs, env={"RAY_ADDRESS": f"http://127.0.0.1:{dashboard}",
                                            "DAE_EXPLORER": "off"})
        try:
            yield proc, url, runs, nodes
        finally:
            stop_server(proc)
            for folder in runs.iterdir():
                if folder.is_dir():
                    (folder / "stop").touch()
    finally:
        for node in reversed(nodes):
            stop_node(node)


def workers_by_node(nodes) -> list[list[int]]:
    """For each node, the processes under it that train a run (a job's command)."""
    def holds_run(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"dae_core\x00train\x00--run-dir" in f.read()
        except OSError:
            return False
    return [[p for p in descendants(node.pid) if holds_run(p)] for node in nodes]


def wait_for(condition, timeout: float = 60.0):
    return wait_until(condition, timeout, poll_s=0.5)


def test_two_runs_train_on_two_nodes_a_third_queues_and_all_are_saved(cluster, new_page):
    proc, url, runs, nodes = cluster
    first, second, third = new_page(), new_page(), new_page()
    for page in (first, second, third):
        open_page(page, url, "Train")
    start_tiny_run(first, subset=3000, epochs=300)
    start_tiny_run(second, subset=3000, epochs=300)
    one_each = wait_for(lambda: [len(w) for w in workers_by_node(nodes)] == [1, 1])
    assert one_each, workers_by_node(nodes)  # one run slot each: one run per node
    third.get_by_label("Epochs", exact=True).fill("1")
    third.get_by_label("Train subset", exact=True).fill("1200")
    third.get_by_role("button", name="Start").click()
    third.get_by_text("Queued: 1st in line").wait_for(timeout=30_000)
    stop_and_save(first, "cluster-first")  # frees a slot: the queued run trains and finishes
    third.get_by_text("Finished: 1 of 1 epoch in").wait_for(timeout=120_000)
    stop_and_save(second, "cluster-second")
    assert sorted(p.name for p in runs.glob("*.pt")) == ["cluster-first.pt", "cluster-second.pt"]
    for page in (first, second, third):
        assert error_texts(page) == []


def test_kill_9_of_a_worker_fails_that_run_only(cluster, new_page):
    proc, url, runs, nodes = cluster
    doomed, survivor = new_page(), new_page()
    for page in (doomed, survivor):
        open_page(page, url, "Train")
    start_tiny_run(doomed, subset=3000, epochs=300)
    doomed.get_by_text(re.compile(r"After epoch \d+")).first.wait_for(timeout=90_000)
    (victim,) = wait_for(lambda: [w for node in workers_by_node(nodes) for w in node])
    start_tiny_run(survivor, subset=3000, epochs=300)
    os.kill(victim, signal.SIGKILL)
    doomed.get_by_text(re.compile("The training process ended without finishing")).first.wait_for(timeout=90_000)
    points = loss_points(survivor)
    survivor.wait_for_function(f"n => ({LOSS_POINTS})() > n", arg=points, timeout=30_000)  # carries on
    doomed.get_by_label("Checkpoint name", exact=True).fill("rescued")  # its finished epochs remain
    doomed.get_by_role("button", name="Save checkpoint").click()
    doomed.get_by_text(SAVED).first.wait_for()
    assert (runs / "rescued.pt").is_file() and proc.poll() is None
    app_button(survivor, "Stop").click()
    survivor.get_by_text("Stopped:").first.wait_for()
    wait_idle(survivor)
