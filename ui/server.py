"""What the app server does once, as it starts: its log, its C heaps, and the slow imports of
every page.

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

from dae_core.settings import settings

log = logging.getLogger(__name__)
# Slowest first: PyTorch, the longest (docs/speed.md). The ui modules bring in the rest (dae_core,
# pandas, scikit-learn's pieces, Plotly, Ray) as the pages would.
WARM = ("torch", "sklearn.cluster", "plotly.graph_objects", "ui.cache", "ui.sidebar",
        "ui.cluster_cache", "ui.cluster_ui", "ui.gen_ui", "ui.denoise_ui", "ui.run_ui",
        "ui.train_ui", "ui.worker", "ui.explorer", "ui.map_view", "ui.background")


def configure_logging() -> None:
    """The server's log on its standard error: DAE_LOG_LEVEL, default INFO. basicConfig does
    nothing once the root logger has a handler, so calling it again adds none."""
    level = settings().log_level
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietCtrlC) for f in uvicorn.filters):
        uvicorn.addFilter(QuietCtrlC())


class QuietCtrlC(logging.Filter):
    """Drops the traceback the ASGI server logs when Ctrl-C stops it: asyncio cancels the task
    that waits for the lifespan's shutdown, which the server then reports as a failed shutdown.
    Nothing failed; the server stops, and says so in one line. Any other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().rstrip()
        return not ("KeyboardInterrupt" in text and text.endswith("CancelledError"))


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
    """st.App's start-up and shut-down: the log, the C heaps, then the imports, before the first
    request."""
    from dae_core.bounds import limit_malloc_arenas

    configure_logging()
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
