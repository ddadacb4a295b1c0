"""A run belongs to the tabs that show it: a reload finds it again through the URL, and when
every such tab has been closed for the grace period (shortened here, $DAE_ORPHAN_GRACE_S) the
run stops and its training process exits. The local Ray stops with the server."""
import re
import time

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import (app_button, cpu_seconds, descendants, open_page,  # noqa: E402
                                 run_workers, start_server, start_tiny_run, stop_server, wait_idle)

GRACE_S = 3
TRAINING = re.compile(r"Epoch \d+/\d+ · batch")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    proc, url = start_server(runs, env={"DAE_ORPHAN_GRACE_S": str(GRACE_S), "DAE_EXPLORER": "off"})
    yield proc, url
    started = descendants(proc.pid)[1:]  # the local Ray the first run started, and its workers
    stop_server(proc)
    deadline = time.monotonic() + 30
    while (left := [p for p in started if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert started and not left, "the local Ray outlived the server"


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def busy_share(page, pids: list[int], seconds: float = 2.0) -> float:
    """Cores these processes used over a window of `seconds`."""
    import time

    cpu, t = sum(map(cpu_seconds, pids)), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)  # a measurement window, not a wait for the app
    return (sum(map(cpu_seconds, pids)) - cpu) / (time.perf_counter() - t)


def test_a_reload_finds_the_run_again(server, new_page):
    proc, url = server
    page = new_page()
    open_page(page, url, "Train")
    start_tiny_run(page, subset=3000, epochs=500)
    run_id = re.search(r"[?&]run=(\w+)", page.url).group(1)
    page.reload()
    page.get_by_text(TRAINING).first.wait_for(timeout=60_000)
    assert f"run={run_id}" in page.url
    assert page.get_by_text("No run yet in this session").count() == 0
    assert len(run_workers(proc.pid)) == 1  # the same run, not a second one
    app_button(page, "Stop").click()
    page.get_by_text("Stopped:").first.wait_for()
    wait_idle(page)


def test_a_closed_tab_stops_its_run_and_its_process_exits(server, new_page):
    proc, url = server
    trainer, watcher = new_page(), new_page()
    open_page(trainer, url, "Train")
    open_page(watcher, url, "home")
    start_tiny_run(trainer, subset=3000, epochs=500)
    workers = run_workers(proc.pid)
    assert len(workers) == 1 and busy_share(watcher, workers) > 0.5  # it trains, in its own process
    trainer.context.close()
    watcher.wait_for_timeout((GRACE_S + 5) * 1000)  # the grace, the batch the stop waits for, the exit
    assert run_workers(proc.pid) == []  # stopped, and nothing is left holding it
