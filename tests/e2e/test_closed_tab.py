"""A run lives on disk, not in a tab or in the server: a reload finds it through the URL, a closed
tab leaves it training, and a restarted server finds it again, training or ended."""
import re

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import (SAVED, app_button, open_page, start_server,  # noqa: E402
                                 start_tiny_run, stop_server, wait_idle)
from dae_harness.procs import run_workers  # noqa: E402

TRAINING = re.compile(r"Epoch \d+/\d+ · batch")


@pytest.fixture
def server(tmp_path, ray_head):
    runs = tmp_path / "runs"
    runs.mkdir()
    proc, url = start_server(runs, env={"DAE_EXPLORER": "off", **ray_head})
    yield proc, url, runs
    stop_server(proc)
    for folder in runs.iterdir():
        if folder.is_dir():
            (folder / "stop").touch()


def run_id(page) -> str:
    return re.search(r"[?&]run=([\w-]+)", page.url).group(1)


def test_a_reload_finds_the_run_again(server, new_page):
    proc, url, runs = server
    page = new_page()
    open_page(page, url, "Train")
    start_tiny_run(page, subset=3000, epochs=500)
    first = run_id(page)
    page.reload()
    page.get_by_text(TRAINING).first.wait_for(timeout=60_000)
    assert run_id(page) == first
    assert page.get_by_text("No run yet in this session").count() == 0
    assert len(run_workers(runs)) == 1  # the same run, not a second one
    app_button(page, "Stop").click()
    page.get_by_text("Stopped:").first.wait_for()
    wait_idle(page)


def test_a_closed_tab_and_a_restarted_server_leave_the_run_training(server, new_page, ray_head):
    proc, url, runs = server
    trainer = new_page()
    open_page(trainer, url, "Train")
    start_tiny_run(trainer, subset=3000, epochs=500)
    link = f"Train?run={run_id(trainer)}"
    trainer.context.close()
    stop_server(proc)  # the server goes, the run does not
    assert len(run_workers(runs)) == 1
    proc, url = start_server(runs, env={"DAE_EXPLORER": "off", **ray_head})
    try:
        page = new_page()
        page.goto(f"{url}/{link}")
        page.get_by_text(TRAINING).first.wait_for(timeout=60_000)  # found on disk, still training
        page.get_by_text(re.compile(r"After epoch \d+")).first.wait_for(timeout=90_000)  # one to save
        app_button(page, "Stop").click()
        page.get_by_text("Stopped:").first.wait_for(timeout=60_000)
        page.get_by_label("Checkpoint name", exact=True).fill("after-restart")
        page.get_by_role("button", name="Save checkpoint").click()
        page.get_by_text(SAVED).first.wait_for()
        assert (runs / "after-restart.pt").is_file()
    finally:
        stop_server(proc)
