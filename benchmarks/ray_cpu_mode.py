"""bench_ray.py --mode cpu: the cores the Streamlit server itself spends while one tab watches a
run train on the Train page, and while that tab is on the home page (no live view), which isolates
what watching a run costs.
"""
import re
import tempfile
from pathlib import Path

from dae_harness.browser import launch, navigate, open_page, start_server, stop_server

from ray_common import TRAINING, VIEWPORT, cores_between, cpu_snapshot

SERVER_BAR_CORES = 0.3


def progress_text(page) -> str:
    """The Train page's progress line (queue place, epoch and batch, or the outcome)."""
    return page.locator('[data-testid="stProgress"]').first.inner_text().strip()


def measure(page, server_pid: int, seconds: float) -> dict:
    """Cores used over `seconds` while the page stays open (Playwright keeps serving it)."""
    a = cpu_snapshot(server_pid)
    page.wait_for_timeout(seconds * 1000)  # the measurement window, not a wait for the app
    return cores_between(a, cpu_snapshot(server_pid))


def run_cpu(window: float, epochs: int) -> dict:
    """The server's CPU while one tab watches a run train, and while that tab is elsewhere."""
    from playwright.sync_api import sync_playwright

    out = {"window_s": window, "recipe": f"Quick, all training digits, {epochs} epochs (stopped after)"}
    with tempfile.TemporaryDirectory() as runs, sync_playwright() as pw:
        browser = launch(pw)
        proc, url = start_server(runs, log=Path(runs) / "server.log")
        try:
            watch_and_measure(browser, url, proc.pid, window, epochs, out)
        except Exception as e:  # reported with what was measured before it
            out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            stop_server(proc)
            browser.close()
            out["server_tracebacks"] = (Path(runs) / "server.log").read_text(errors="replace").count("Traceback")
    if "training_tab_on_home" in out:
        server = out["training_train_tab_open"]["server_cores"]
        out["watching_costs_cores"] = round(server - out["training_tab_on_home"]["server_cores"], 3)
        out["expected"] = f"server < {SERVER_BAR_CORES} core while a tab watches a run"
        out["as_expected"] = server < SERVER_BAR_CORES
    return out


def watch_and_measure(browser, url: str, server_pid: int, window: float, epochs: int, out: dict) -> None:
    """One tab: Train page without a run, then watching the run train, then on the home page."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    open_page(page, url, "Train")
    out["no_run_train_tab_open"] = measure(page, server_pid, window)
    page.get_by_label("Epochs", exact=True).fill(str(epochs))
    page.get_by_role("button", name="Start").click()
    try:  # the first run of a server starts its local Ray first
        page.get_by_text(re.compile(r"After epoch 1:")).first.wait_for(timeout=240_000)
    except Exception as e:
        raise RuntimeError(f"the run did not finish its first epoch in 240 s (progress: "
                           f"{progress_text(page)!r})") from e
    out["training_train_tab_open"] = measure(page, server_pid, window)
    navigate(page, "home")
    out["training_tab_on_home"] = measure(page, server_pid, window)
    navigate(page, "Train")
    text = progress_text(page)
    if not TRAINING.search(text):
        raise RuntimeError(f"the run ended before the windows did ({text!r}): raise --cpu-epochs")
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped:").first.wait_for(timeout=60_000)
