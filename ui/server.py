"""What the app server does once, as it starts: its log, its settings checked, its C heaps, and
the slow imports of every page.

Loading PyTorch, scikit-learn and Plotly takes seconds of a 2-core machine. Done here, before the
server answers, the first visitor's page (and a whole class opening the link at once) no longer
waits for them; the server is ready a few seconds later instead.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import time
from contextlib import asynccontextmanager

from dae_core.errors import ConfigError
from dae_core.settings import settings

log = logging.getLogger(__name__)
# Slowest first: PyTorch, the longest (docs/speed.md). The ui modules bring in the rest (dae_core,
# pandas, scikit-learn's pieces, Plotly, Ray) as the pages would.
WARM = ("torch", "sklearn.cluster", "plotly.graph_objects", "ui.cache", "ui.sidebar",
        "ui.cluster_cache", "ui.cluster_ui", "ui.gen_ui", "ui.denoise_ui", "ui.run_ui",
        "ui.train_ui", "ui.worker", "ui.explorer", "ui.map_view", "ui.background")


def configure_logging() -> None:
    """The server's log on its standard error, at DAE_LOG_LEVEL (INFO while that is not a level:
    check_settings then says so, and the server stops). basicConfig does nothing once the root
    logger has a handler, so calling it again adds none."""
    try:
        level = settings().log_level
    except ConfigError:
        level = "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietStops) for f in uvicorn.filters):
        uvicorn.addFilter(QuietStops())


class StartRefused(Exception):
    """The server does not start; why is already logged, in one line."""


class QuietStops(logging.Filter):
    """Drops the tracebacks the ASGI server logs for two stops already told in one line: Ctrl-C
    (asyncio cancels the task that waits for the lifespan's shutdown, which the server then
    reports as a failed shutdown) and a start refused by check_settings. Any other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().rstrip()
        refused = f"{StartRefused.__module__}.{StartRefused.__qualname__}:"
        return not (("KeyboardInterrupt" in text and text.endswith("CancelledError"))
                    or (text.startswith("Traceback") and text.splitlines()[-1].startswith(refused)))


def check_settings() -> None:
    """Raise StartRefused, after one line in the log naming the variable, when a DAE_* setting
    has a bad value: the server stops before it takes a visitor."""
    try:
        settings()
    except ConfigError as e:
        log.error("the server stops: %s", e)
        raise StartRefused(str(e)) from None


def warm_up(modules=WARM) -> None:
    """Import `modules`; one that fails is logged (its page will show why) and the rest go on."""
    t = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  the server starts all the same
            log.warning("could not load %s as the server started", name, exc_info=True)
    log.info("pages' modules loaded in %.1f s", time.perf_counter() - t)


@asynccontextmanager
async def lifespan(app):
    """st.App's start-up and shut-down: the log, the settings, the C heaps, then the imports,
    before the first request."""
    from dae_core.bounds import limit_malloc_arenas

    configure_logging()
    check_settings()
    # Fewer C heaps than one per busy script thread: the server's memory stays near what it uses.
    limit_malloc_arenas()
    await asyncio.to_thread(warm_up)
    check_runs_folder()
    from ui.worker import warm_up as start_ray

    start_ray()  # in the background: the first Start then finds Ray's job server answering
    yield


def check_runs_folder() -> None:
    """One line at start when runs cannot be kept (the runs folder is not writable)."""
    from dae_core.serve import training

    problem = training.check_runs_dir()
    if problem:
        log.error("%s", problem)
