"""The app keeps your place: settings survive a trip through every page, a link opens the view it
names and the URL follows every change, and a first visit by URL shows the usual menu.

A server of its own: the menu test needs the first visit after a server start."""
import re
import shutil
from pathlib import Path

import pytest
from dae_harness.browser import (PAGES, choose, combobox, error_texts, navigate, open_page, start_server,
                                 stop_server, wait_idle)

MENU = ["Home", "Train", "Denoise", "Generate", "Cluster"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The runs folder of the server below."""
    return tmp_path_factory.mktemp("url-state-runs")


@pytest.fixture(scope="module")
def fresh(runs):
    """A just-started app: its URL."""
    proc, url = start_server(runs, env={"DAE_EXPLORER": "off"})
    try:
        yield url
    finally:
        stop_server(proc)


def menu(page) -> list[str]:
    return [t.strip() for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def radio(page, group: str, option: str):
    """The option `option` of the radio group labelled `group`."""
    return page.locator('[data-testid="stRadio"]').filter(has_text=group).get_by_label(option, exact=True)


def pick(page, group: str, option: str) -> None:
    """Click `option` in the radio group labelled `group`."""
    page.locator('[data-testid="stRadio"]').filter(has_text=group).get_by_text(option, exact=True).click()


# A folder named pages/ next to the entry file would switch on Streamlit's older page discovery
# until some session ran st.navigation: a first visit to /Cluster would run that page alone, with
# an extra "streamlit app" entry in the menu. The pages live in app_pages/ for that reason.
def test_a_first_visit_by_url_shows_the_same_menu_as_home(fresh, new_page):
    by_url = new_page()
    open_page(by_url, fresh, "Cluster")  # the server's very first session
    home = new_page()
    open_page(home, fresh, "home")
    assert menu(home) == MENU
    assert menu(by_url) == MENU


def test_a_link_opens_its_view_and_the_url_follows_changes(fresh, page):
    page.goto(f"{fresh}/{PAGES['Cluster']}?model=cluster-d10-refined&method=gmm&k=8&cluster_seed=3")
    page.get_by_text("Images in one cell of the confusion matrix", exact=True).wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert combobox(page, "Model") == "cluster-d10-refined"
    assert combobox(page, "Method") == "Gaussian mixture"  # in words; the URL keeps the name
    assert page.get_by_label("Clusters k", exact=True).input_value() == "8"
    assert page.get_by_label("Seed", exact=True).input_value() == "3"
    assert error_texts(page) == []
    page.get_by_label("Clusters k", exact=True).fill("7")
    page.get_by_label("Clusters k", exact=True).press("Enter")
    page.wait_for_url(re.compile(r"[?&]k=7(&|$)"), timeout=120_000)
    wait_idle(page, 120_000)
    assert "method=gmm" in page.url and "model=cluster-d10-refined" in page.url


def test_the_model_a_link_names_stays_picked_on_every_page(fresh, page):
    """The pick came from the link, not from a click: Streamlit's page switch drops it from the
    URL on the first trip; the session's pick brings it back."""
    page.goto(f"{fresh}/?model=cluster-d10-refined")
    page.get_by_text("Model", exact=True).first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert combobox(page, "Model") == "cluster-d10-refined"
    for name in ("Generate", "Denoise", "Generate", "home"):
        navigate(page, name, timeout=120_000)
        assert combobox(page, "Model") == "cluster-d10-refined", name
    assert "model=cluster-d10-refined" in page.url  # in the URL again (Streamlit's own restore)


def test_settings_survive_a_trip_through_every_page(fresh, page):
    open_page(page, fresh, "Cluster")
    choose(page, "Method", "Gaussian mixture")
    wait_idle(page, 120_000)
    pick(page, "Colour by", "cluster")  # kept for the session, not in the URL
    wait_idle(page, 120_000)
    navigate(page, "Denoise")
    choose(page, "Noise", "mask (pixels set to 0)")
    wait_idle(page)
    pick(page, "Test digits", "by class")
    wait_idle(page)
    navigate(page, "Generate")
    choose(page, "Sampler", "uniform in the codes' box")
    wait_idle(page)
    for name in ("home", "Train", "Denoise", "Generate", "Cluster"):
        navigate(page, name, 120_000)
    assert combobox(page, "Method") == "Gaussian mixture"
    assert "method=gmm" in page.url
    assert radio(page, "Colour by", "cluster").is_checked()
    navigate(page, "Generate")
    assert combobox(page, "Sampler") == "uniform in the codes' box"
    assert "sampler=box" in page.url
    navigate(page, "Denoise")
    assert combobox(page, "Noise") == "mask (pixels set to 0)"
    assert "noise=mask" in page.url
    assert radio(page, "Test digits", "by class").is_checked()


def test_a_run_in_the_runs_folder_is_listed_for_a_new_session_and_after_a_reload(fresh, runs, page):
    shutil.copy(ROOT / "checkpoints" / "denoise-d10.pt", runs / "shared-run.pt")
    page.goto(f"{fresh}/?model=shared-run+%28saved+run%29")
    for _ in range(2):
        page.get_by_text("25 training digits").first.wait_for(timeout=120_000)
        wait_idle(page)
        assert combobox(page, "Model") == "shared-run (saved run)"
        assert error_texts(page) == []
        page.reload()
