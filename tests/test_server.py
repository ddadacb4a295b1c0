"""ui.server: what the app server does as it starts (its log, the pages' imports)."""
import asyncio
import logging
import sys
import threading

from ui import server


def test_warm_up_imports_what_it_is_given_and_logs_what_it_cannot(caplog, monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    with caplog.at_level("INFO", logger="ui.server"):
        server.warm_up(("no_such_module_anywhere", "colorsys"))  # a failure does not stop the rest
    assert "colorsys" in sys.modules
    assert "could not load no_such_module_anywhere" in caplog.text and "loaded in" in caplog.text


def test_the_lifespan_loads_the_modules_before_it_yields(monkeypatch):
    seen = []
    monkeypatch.setattr(server, "warm_up", lambda: seen.append("warm"))
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # configure_logging adds one

    async def start():
        async with server.lifespan(None):
            seen.append("serving")

    # On a thread of its own: in the full suite the browser tests' Playwright holds an event loop
    # on the main thread, where asyncio.run refuses to start.
    thread = threading.Thread(target=asyncio.run, args=(start(),))
    thread.start()
    thread.join(60)
    assert seen == ["warm", "serving"] and logging.getLogger().handlers


def test_every_module_warmed_exists():
    import importlib.util

    assert all(importlib.util.find_spec(name) is not None for name in server.WARM)


def test_ctrl_c_leaves_one_line_and_real_errors_still_log():
    """The ASGI server logs a cancelled lifespan as a failed shutdown when Ctrl-C stops it; that
    traceback is dropped, any other error record passes."""
    quiet = server.QuietCtrlC()
    ctrl_c = ("Traceback (most recent call last):\n  ...\nKeyboardInterrupt\n\nDuring handling of the "
              "above exception, another exception occurred:\n\n  ...\nasyncio.exceptions.CancelledError\n")
    other = "Traceback (most recent call last):\n  ...\nRuntimeError: the lifespan failed\n"
    make = lambda text: logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, text, None, None)  # noqa: E731
    assert not quiet.filter(make(ctrl_c))
    assert quiet.filter(make(other)) and quiet.filter(make("asyncio.exceptions.CancelledError"))
    server.configure_logging()
    server.configure_logging()  # twice: still one filter
    assert sum(isinstance(f, server.QuietCtrlC) for f in logging.getLogger("uvicorn.error").filters) == 1
