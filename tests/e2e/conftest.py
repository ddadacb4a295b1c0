"""Browser tests: one real `streamlit run` server and one headless Chromium for the whole session.

The server saves runs in a temporary folder ($DAE_RUNS_DIR), never in checkpoints/runs/.
Everything here skips, with the reason, when /usr/bin/chromium or playwright is missing.
"""
from pathlib import Path
from types import SimpleNamespace

import pytest

from dae_harness.browser import ROOT, launch, missing, start_server, stop_server
from dae_harness.procs import rss_bytes
from ray_head import local_head

SKIP = missing()
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(config, items):
    """Every browser test is slow (a server, Chromium, a Ray head); all skip without Chromium."""
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.slow)
            if SKIP:
                item.add_marker(pytest.mark.skip(reason=f"browser tests: {SKIP}"))


@pytest.fixture(scope="session")
def ray_head():
    """A local Ray head of the browser tests' own (its env vars), ended after them."""
    if SKIP:
        pytest.skip(SKIP)
    with local_head() as env:
        yield env


@pytest.fixture(scope="session")
def app(tmp_path_factory, ray_head):
    """The running app: url, proc, runs (its runs folder) and log (its stdout and stderr)."""
    base = tmp_path_factory.mktemp("e2e")
    runs, log = base / "runs", base / "server.log"
    runs.mkdir()
    shipped_runs = sorted(p.name for p in (ROOT / "checkpoints" / "runs").iterdir())
    # The Generate page's server-side sliders, which test_pages and test_concurrency drive; the
    # in-browser explorer has its own server in test_explorer.py.
    proc, url = start_server(runs, log=log, env={"DAE_EXPLORER": "off", "DAE_CACHE_DIR": str(base / "cache"),
                                                 **ray_head})
    try:
        yield SimpleNamespace(url=url, proc=proc, runs=runs, log=log)
    finally:
        rss = rss_bytes(proc.pid)
        stop_server(proc)
        for folder in runs.iterdir():  # no run trains on after the tests
            if folder.is_dir():
                (folder / "stop").touch()
        print(f"\nserver RSS at the end of the browser tests: {rss / 2**20:.0f} MiB")
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, f"the server logged a traceback:\n{text[-3000:]}"
    assert sorted(p.name for p in (ROOT / "checkpoints" / "runs").iterdir()) == shipped_runs


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch(pw)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """A factory of pages, each in its own browser context (its own Streamlit session)."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()
