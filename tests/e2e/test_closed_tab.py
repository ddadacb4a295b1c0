"""A run belongs to its tab: a tab that closes stops its run after a grace period, shortened
for the test ($DAE_ORPHAN_GRACE_S)."""
import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from harness import cpu_seconds, open_page, start_server, start_tiny_run, stop_server  # noqa: E402

GRACE_S = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    proc, url = start_server(runs, env={"DAE_ORPHAN_GRACE_S": str(GRACE_S), "DAE_EXPLORER": "off"})
    yield proc, url
    stop_server(proc)


def busy_share(page, pid: int, seconds: float = 4.0) -> float:
    """Cores the server used over a window of `seconds`."""
    import time

    cpu, t = cpu_seconds(pid), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)  # a measurement window, not a wait for the app
    return (cpu_seconds(pid) - cpu) / (time.perf_counter() - t)


def test_a_closed_tab_stops_its_run_after_the_grace(server, new_page):
    proc, url = server
    trainer, watcher = new_page(), new_page()
    open_page(trainer, url, "Train")
    open_page(watcher, url, "home")
    start_tiny_run(trainer, subset=3000, epochs=500)
    assert busy_share(watcher, proc.pid, 2.0) > 0.5  # it trains
    trainer.context.close()
    watcher.wait_for_timeout((GRACE_S + 3) * 1000)  # the grace, plus the batch the stop waits for
    assert busy_share(watcher, proc.pid) < 0.3  # stopped: nobody is left to watch it
