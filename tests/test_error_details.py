"""What a visitor sees of an exception no page expected: its type and a generic sentence, never
its message (which may name the server's folders) or its traceback; the server's log keeps both."""
import logging
import tomllib
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

SHIPPED = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
SECRET = "/srv/dae-lab/checkpoints/runs/private.pt"


def test_the_shipped_config_hides_error_details():
    assert SHIPPED["client"]["showErrorDetails"] == "type"


def test_an_unexpected_exception_shows_its_type_only_and_is_logged_in_full():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("streamlit.error_util")  # where Streamlit logs a page's exception
    before = st.get_option("client.showErrorDetails")
    st.set_option("client.showErrorDetails", SHIPPED["client"]["showErrorDetails"])
    log.addHandler(handler)
    try:
        at = AppTest.from_string(f"raise ValueError({SECRET!r})").run()
    finally:
        log.removeHandler(handler)
        st.set_option("client.showErrorDetails", before)
    shown = at.exception[0]
    assert shown.proto.type == "ValueError" and not shown.stack_trace
    assert SECRET not in shown.value and "Traceback" not in shown.value
    logged = [r for r in records if r.exc_info]
    assert logged and logged[0].exc_info[0] is ValueError and SECRET in str(logged[0].exc_info[1])
