"""The websocket client against a real `streamlit run` of a tiny script: a run ends with
script_finished, a widget change and a button press rerun it with the new values, and a polling
fragment is rerun until the page it ends with is drawn."""
import asyncio
from concurrent.futures import ThreadPoolExecutor
import subprocess
import sys
import time
import urllib.request

import pytest

from dae_harness.browser import free_port, stop_server
from dae_harness.wsclient import Tab

pytestmark = pytest.mark.slow  # a `streamlit run` server of its own

SCRIPT = """
import streamlit as st
n = st.number_input("n", 0, 100, 3, key="n")
word = st.selectbox("word", ["one", "two"], key="word")
if st.button("Go", key="go"):
    st.markdown(f"pressed with {word}")
st.markdown(f"n is {n}")
if st.button("Wait", key="wait"):
    st.session_state.polls = 0


@st.fragment(run_every=0.2)
def poll():
    st.session_state.polls += 1
    if st.session_state.polls >= 3:
        st.rerun()  # the whole page: it shows the result
    st.markdown(f"polled {st.session_state.polls}")


if st.session_state.get("polls", 3) < 3:
    poll()
elif "polls" in st.session_state:
    st.markdown("waited")
"""


@pytest.fixture
def tiny_app(tmp_path):
    (tmp_path / "tiny.py").write_text(SCRIPT)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "tiny.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(proc)
                pytest.fail("the tiny app did not start")
            time.sleep(0.1)  # polling interval of the health check
    yield url
    stop_server(proc)


def test_runs_and_reruns_on_widget_changes(tiny_app):
    async def session():
        tab = Tab(tiny_app, timeout=30)  # only keeps a hung run from hanging the test ("timeout")
        try:
            first = await tab.open()
            changed = await tab.set("n", 7)
            pressed = await tab.click("go", word="two")
            after = await tab.rerun()  # a button's press is sent once
            waiting = await tab.click("wait")
            waited = await tab.settle(timeout=20)
            shown = tab.texts()
        finally:
            await tab.close()
        return first, changed, pressed, after, waiting, waited, shown, tab.fragment_runs

    # On a thread of its own: the browser tests' Playwright may hold an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        first, changed, pressed, after, waiting, waited, shown, polls = \
            pool.submit(asyncio.run, session()).result()
    assert first.status == "finished" and "n is 3" in first.texts()
    assert changed.status == "finished" and "n is 7" in changed.texts()
    assert "pressed with two" in pressed.texts() and "n is 7" in pressed.texts()
    assert "pressed with two" not in after.texts() and "n is 7" in after.texts()
    assert "waited" not in waiting.texts()
    assert waited is not None and "waited" in shown and polls >= 1  # polled, then drawn whole
