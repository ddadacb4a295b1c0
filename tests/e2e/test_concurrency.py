"""Three browser sessions at once against one server: one trains, two explore.

No error boxes, no state crossing between sessions (the trainer's run is listed only in its own
picker), and the explorers' pages keep answering while the other session trains.
benchmarks/bench_browser.py measures how fast they answer.
"""

import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import (LOSS_POINTS, error_texts, loss_points, move_slider,  # noqa: E402
                                 navigate, open_page, pick_cell_digit, picker_options,
                                 start_tiny_run, stop_and_save)


def test_one_trains_two_explore_and_no_state_crosses_sessions(app, new_page):
    trainer, slider_user, cluster_user = new_page(), new_page(), new_page()
    open_page(trainer, app.url, "Train")
    open_page(slider_user, app.url, "Generate")
    open_page(cluster_user, app.url, "Cluster")

    start_tiny_run(trainer, subset=3000, epochs=200)
    points = loss_points(trainer)
    preview = slider_user.locator('[data-testid="stImage"]', has_text="z = (")
    for i in range(6):  # each move waits for its new preview
        before = preview.inner_text()
        move_slider(slider_user, "z1", "ArrowLeft" if i % 2 else "ArrowRight")
        assert preview.inner_text() != before
    for digit in (3, 7, 1):  # each pick waits for the images of its cell
        pick_cell_digit(cluster_user, digit)
    trainer.wait_for_function(f"n => ({LOSS_POINTS})() > n", arg=points)  # it trained meanwhile

    stop_and_save(trainer, "conc-run")
    assert (app.runs / "conc-run.pt").is_file()
    assert "conc-run (saved run)" in picker_options(trainer)

    pick_cell_digit(cluster_user, 5)  # still answers while the others save
    navigate(cluster_user, "home")  # fresh runs of the other sessions' sidebars
    navigate(slider_user, "Train")
    for other in (slider_user, cluster_user):  # a saved run is on the server's shared list...
        assert "conc-run (saved run)" in picker_options(other)
    assert slider_user.get_by_text("No run yet in this session").is_visible()  # ...its tab is not
    for page in (trainer, slider_user, cluster_user):
        assert error_texts(page) == []
