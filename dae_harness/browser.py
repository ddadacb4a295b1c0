"""A real `streamlit run` and headless Chromium, shared by the e2e tests and the browser benchmarks.

Chromium is Debian's (/usr/bin/chromium): Playwright cannot download its own browser here.
Every wait is on a condition (the health endpoint, the app's script state, an element), never a
fixed sleep.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dae_core.paths import ROOT

CHROMIUM = os.environ.get("DAE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
PAGES = {"home": "", "Train": "Train", "Denoise": "Denoise", "Generate": "Generate",
         "Cluster": "Cluster"}  # name -> URL path (the url_path each st.Page is given)
# Text each page draws last: once it is there and the script is idle, the page is complete.
LAST = {"home": "Labels", "Train": "Compare saved runs", "Denoise": "Your own digit",
        "Generate": "Interpolation", "Cluster": "Images in one cell of the confusion matrix"}
ERROR_BOXES = '[data-testid="stException"], [data-testid="stAlertContentError"]'
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


# The Train page's notice of a finished save (the runs table's "Saved as" column is not one).
SAVED = re.compile(r"Saved as .+ in the runs folder")

def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set DAE_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs_dir: str | Path, port: int | None = None, timeout: float = 60.0,
                 log: Path | None = None, args: tuple = (), env: dict | None = None,
                 root: str | Path = ROOT) -> tuple[subprocess.Popen, str]:
    """Run the app of the checkout at `root` on localhost: (process, URL) once /_stcore/health
    answers. The server imports `root`'s own dae_core and ui: `streamlit run` puts the script's
    folder first on sys.path, ahead of the editable install's."""
    port = port or free_port()
    env = dict(os.environ, **(env or {}), DAE_RUNS_DIR=str(runs_dir), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
           "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false", *args]
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:  # its own process group, so that stop_server stops it and any child as one
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        if log:
            out.close()  # the child has its own copy of the descriptor
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"streamlit did not answer {url}/_stcore/health in {timeout:.0f} s")
        time.sleep(0.05)  # polling interval of the health check, not a wait for the app


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def launch(playwright):
    """Headless Debian Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until the app's script (and any fragment) has finished its current run."""
    page.wait_for_selector(IDLE, timeout=timeout)


def open_page(page, url: str, name: str, timeout: float = 90_000) -> None:
    """Load one page of the app and wait until its script has run to the end."""
    page.goto(f"{url}/{PAGES[name]}")
    # The script state alone reads "notRunning" before the first run starts: wait for the text
    # the page draws last (after its cached loaders), then for the run to end.
    page.get_by_text(LAST[name], exact=True).first.wait_for(timeout=timeout)
    wait_idle(page, timeout)


def navigate(page, name: str, timeout: float = 90_000) -> None:
    """Go to another page through the sidebar menu: the same browser session, unlike goto."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    (links.first if name == "home" else links.filter(has_text=name).first).click()
    page.get_by_text(LAST[name], exact=True).first.wait_for(timeout=timeout)
    wait_idle(page, timeout)


def open_selectbox(page, label: str, sidebar: bool = False, tries: int = 3) -> None:
    """Open the options of the select box labelled `label`, from the keyboard: a click on a
    select box of a tab that was not the last one used may only focus it, and a key pressed
    while the box re-renders after a rerun can be lost, so this tries again."""
    from playwright.sync_api import TimeoutError as NotYet

    scope = page.locator('[data-testid="stSidebar"]') if sidebar else page
    box = scope.locator(f'[data-testid="stSelectbox"] input[role="combobox"][aria-label="{label}"]')
    options = page.get_by_role("option").first
    for attempt in range(tries):
        wait_idle(page)
        box.press("ArrowDown")  # focuses the box, then presses
        try:
            options.wait_for(timeout=3_000 if attempt < tries - 1 else 30_000)
            return
        except NotYet:
            if attempt == tries - 1:
                raise
            box.press("Escape")


def choose(page, label: str, option: str, sidebar: bool = False) -> None:
    """Pick `option` in the select box labelled `label`."""
    open_selectbox(page, label, sidebar)
    page.get_by_role("option", name=option, exact=True).click()


def combobox(page, label: str) -> str:
    """The shown value of the select box labelled `label`."""
    return page.locator(f'[data-testid="stSelectbox"] input[role="combobox"][aria-label="{label}"]') \
        .first.input_value()


def picker_options(page) -> list[str]:
    """The names listed by the sidebar's model picker (opens and closes its menu)."""
    open_selectbox(page, "Model", sidebar=True)
    names = [t.strip() for t in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


PREVIEW_CHANGED = """before => {
    const box = [...document.querySelectorAll('[data-testid="stImage"]')]
        .find(e => e.innerText.includes('z = ('));
    const img = box && box.querySelector('img');
    return !!img && img.src !== before && img.complete && img.naturalWidth > 0;
}"""


def move_slider(page, label: str = "z0", key: str = "ArrowRight", timeout: float = 15_000) -> float:
    """Press `key` on a latent slider of the Generate page; seconds until the new preview shows."""
    preview = page.locator('[data-testid="stImage"]', has_text="z = (").locator("img")
    before = preview.get_attribute("src")
    t = time.perf_counter()
    page.locator(f'[data-testid="stSlider"] input[type="range"][aria-label="{label}"]').press(key)
    page.wait_for_function(PREVIEW_CHANGED, arg=before, timeout=timeout)
    return time.perf_counter() - t


LOSS_POINTS = """() => {
    const g = document.querySelector('.st-key-train_loss_chart .js-plotly-plot');
    // A trace's x is an array, or Plotly's typed-array spec {dtype, bdata: base64 of the values}
    // (how plotly.py sends NumPy arrays).
    const size = {f8: 8, f4: 4, i8: 8, u8: 8, i4: 4, u4: 4, i2: 2, u2: 2, i1: 1, u1: 1};
    const count = x => !x ? 0 : x.length !== undefined ? x.length
        : Math.floor(atob(x.bdata).length / (size[String(x.dtype).replace(/^[<>|=]/, '')] || 8));
    return g && g.data ? g.data.reduce((n, t) => n + count(t.x), 0) : 0;
}"""


def loss_points(page) -> int:
    """How many points the Train page's live loss chart draws now."""
    return page.evaluate(LOSS_POINTS)


def start_tiny_run(page, subset: int = 1200, epochs: int = 300, batch: int = 64) -> None:
    """Fill the Train form with a tiny run and press Start (the page must be open)."""
    for label, value in (("Train subset", subset), ("Epochs", epochs), ("Batch size", batch)):
        page.get_by_label(label, exact=True).fill(str(value))
    page.get_by_role("button", name="Start").click()
    # a batch report (the run is training), or the end of a run too short to be seen training
    started = re.compile(r"Epoch \d+/\d+ · batch|Finished: ")
    page.get_by_text(started).first.wait_for(timeout=60_000)


def app_button(page, name: str):
    """The app's button called `name`; not Streamlit's own header button, which reads "Stop" while
    a script runs."""
    return page.get_by_test_id("stButton").get_by_role("button", name=name)


def stop_and_save(page, name: str) -> None:
    """Train page: once an epoch has finished (a run has nothing to save before), press Stop, wait
    for the stopped run, save it as `name` and wait until the page says where it went."""
    page.get_by_text(re.compile(r"After epoch \d+")).first.wait_for(timeout=90_000)
    app_button(page, "Stop").click()
    page.get_by_text("Stopped:").first.wait_for()
    wait_idle(page)
    page.get_by_label("Checkpoint name", exact=True).fill(name)
    page.get_by_role("button", name="Save checkpoint").click()
    page.get_by_text(SAVED).first.wait_for()
    wait_idle(page)


def pick_cell_digit(page, digit: int) -> float:
    """Cluster page: choose the 'True digit' of the cell view; seconds until its images show."""
    t = time.perf_counter()
    choose(page, "True digit", str(digit))
    page.get_by_text(re.compile(rf"training images of digit {digit} fell in cluster")).wait_for()
    seconds = time.perf_counter() - t
    wait_idle(page)
    return seconds


def error_texts(page) -> list[str]:
    """The text of every exception or st.error box on the page."""
    return [t.strip()[:500] for t in page.locator(ERROR_BOXES).all_inner_texts()]


def wait_until(condition, timeout: float, poll_s: float = 0.25):
    """condition()'s first truthy value within `timeout` seconds, else None (polls every poll_s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    return None
