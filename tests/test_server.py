"""ui.server: what the app server does as it starts (its log, its settings, the pages' imports)."""
import asyncio
import logging
import sys
import threading
import traceback

from ui import server


def test_warm_up_imports_what_it_is_given_and_logs_what_it_cannot(caplog, monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    with caplog.at_level("INFO", logger="ui.server"):
        server.warm_up(("no_such_module_anywhere", "colorsys"))  # a failure does not stop the rest
    assert "colorsys" in sys.modules
    assert "could not load no_such_module_anywhere" in caplog.text and "loaded in" in caplog.text


def serve_once(seen: list) -> Exception | None:
    """Enter and leave the lifespan (noting "serving" in `seen`) -> what it raised, or None. On a
    thread of its own: in the full suite the browser tests' Playwright holds an event loop on the
    main thread, where asyncio.run refuses to start."""
    raised = []

    async def start():
        try:
            async with server.lifespan(None):
                seen.append("serving")
        except Exception as e:  # noqa: BLE001  the test looks at it
            raised.append(e)

    thread = threading.Thread(target=asyncio.run, args=(start(),))
    thread.start()
    thread.join(60)
    return raised[0] if raised else None


def test_the_lifespan_loads_the_modules_before_it_yields(monkeypatch):
    seen = []
    monkeypatch.setattr(server, "warm_up", lambda: seen.append("warm"))
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # configure_logging adds one
    assert serve_once(seen) is None
    assert seen == ["warm", "serving"] and logging.getLogger().handlers


def test_a_bad_setting_stops_the_start_with_one_line_and_no_traceback(monkeypatch, caplog):
    seen = []
    monkeypatch.setattr(server, "warm_up", lambda: seen.append("warm"))
    monkeypatch.setenv("DAE_PAGE_FITS", "lots")
    with caplog.at_level("INFO"):
        error = serve_once(seen)
    assert isinstance(error, server.StartRefused) and seen == []  # stopped before anything else
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("the server stops: DAE_PAGE_FITS must be a whole")
    # The ASGI server is handed the failed start as a traceback: its log drops it.
    text = "".join(traceback.format_exception(error))
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, text, None, None)
    assert text.startswith("Traceback") and not server.QuietStops().filter(record)


def test_every_module_warmed_exists():
    import importlib.util

    assert all(importlib.util.find_spec(name) is not None for name in server.WARM)


def test_ctrl_c_leaves_one_line_and_real_errors_still_log():
    """The ASGI server logs a cancelled lifespan as a failed shutdown when Ctrl-C stops it; that
    traceback is dropped, any other error record passes."""
    quiet = server.QuietStops()
    ctrl_c = ("Traceback (most recent call last):\n  ...\nKeyboardInterrupt\n\nDuring handling of the "
              "above exception, another exception occurred:\n\n  ...\nasyncio.exceptions.CancelledError\n")
    other = "Traceback (most recent call last):\n  ...\nRuntimeError: the lifespan failed\n"
    make = lambda text: logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, text, None, None)  # noqa: E731
    assert not quiet.filter(make(ctrl_c))
    assert quiet.filter(make(other)) and quiet.filter(make("asyncio.exceptions.CancelledError"))
    server.configure_logging()
    server.configure_logging()  # twice: still one filter
    assert sum(isinstance(f, server.QuietStops) for f in logging.getLogger("uvicorn.error").filters) == 1
