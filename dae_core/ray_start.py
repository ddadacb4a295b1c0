"""Starting a local Ray, or joining the cluster at $RAY_ADDRESS, for the training runs.

Every wait has a time limit and no lock is held across one; a failure to start or reach Ray is
one JobError line, logged with its traceback, and the next connect() starts again from scratch.
A local Ray whose raylet died is noticed by the next connect() and started again.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit

import ray

from . import scheduler
from .data import DATA_DIR
from .errors import DaeError, one_line
from .scheduler import NAMESPACE, max_runs

OBJECT_STORE_BYTES = 96 * 1024**2  # a run's checkpoint is ~1 MB; Ray's floor is 75 MB
CONNECT_TIMEOUT_S = 25.0  # a failed start says why within this (ray.init itself may retry for minutes)
PROBE_TIMEOUT_S = 5.0  # for a TCP connection to $RAY_ADDRESS or to this node's raylet
IDLE_WORKER_KEEP_S = 300  # an analysis task's worker stays warm (its imports cost seconds) this long
# Ray's own settings (its RayConfig, read from RAY_<name> variables by the processes ray.init
# starts) for a local Ray only; a variable already set wins. By default Ray keeps up to one idle
# worker process per CPU for as long as it runs, an analysis worker holding PyTorch and
# scikit-learn (hundreds of MB); here every idle worker ends once idle IDLE_WORKER_KEEP_S, and
# none is started before a task or a run asks for one.
LOCAL_RAY_ENV = {
    "RAY_num_workers_soft_limit": "0",  # idle workers Ray keeps however long they idle
    "RAY_idle_worker_killing_time_threshold_ms": str(IDLE_WORKER_KEEP_S * 1000),
    "RAY_prestart_worker_first_driver": "0",
}
log = logging.getLogger(__name__)
_connect_lock = threading.Lock()  # guards _starting; never held across a wait
_starting: _Start | None = None  # this process's latest start of Ray, under way or ended


class JobError(DaeError):
    """Ray could not be started or reached, or the run queue did not answer; one line."""


def connect() -> None:
    """Start a local Ray sized to this machine, or join $RAY_ADDRESS (once per process); raises
    JobError within CONNECT_TIMEOUT_S when it cannot.

    A start that failed was undone (ray.shutdown), so the next call tries again from scratch; one
    still under way when the wait ran out is waited for again by the next call, never doubled.
    Workers import the installed package and read this checkout's data folder, so on a cluster
    every node needs the same checkout at the same path, installed (`pip install -e .`).
    """
    global _starting
    seen = _starting
    broken = ray.is_initialized() and not _node_alive()  # asked outside the lock: a wait on Ray
    with _connect_lock:
        if _starting is None or _starting.done.is_set():
            if ray.is_initialized() and not (broken and _starting is seen):
                return
            if ray.is_initialized():
                log.warning("this process's Ray node is gone; starting Ray again")
                _shutdown()
            scheduler.forget()  # a handle from an earlier Ray points nowhere
            _starting = _Start(_init_options(), _ray_env())
        start = _starting
    if not start.done.wait(CONNECT_TIMEOUT_S):
        log.error("%s did not answer within %g s; still trying in the background",
                  where(), CONNECT_TIMEOUT_S)
        raise JobError(f"{where()} did not answer within {CONNECT_TIMEOUT_S:g} s; try again in a moment")
    if start.error is not None:
        raise start.error


def _node_alive() -> bool:
    """Whether the Ray node this process is attached to is alive (its raylet may have been killed).

    Ray marks a node dead only after its health checks fail (about 15 s); a raylet's closed port
    says so at once, so a Start just after the kill is not queued on a node that is gone.
    """
    try:
        me = ray.get_runtime_context().get_node_id()
        node = next((n for n in ray.nodes() if n["NodeID"] == me), None)
    except Exception:  # noqa: BLE001  unknown (Ray Client, say): a failed submit resets Ray anyway
        log.debug("Ray did not say whether this node is alive", exc_info=True)
        return True
    if node is None or not node.get("Alive"):
        return False
    try:
        socket.create_connection((node["NodeManagerAddress"], node["NodeManagerPort"]),
                                 timeout=PROBE_TIMEOUT_S).close()
    except ConnectionRefusedError:
        return False
    except (OSError, KeyError, TypeError):  # unknown, not refused: trust Ray's own word
        log.debug("could not probe this node's raylet", exc_info=True)
    return True


def _init_options() -> dict:
    options = dict(namespace=NAMESPACE, log_to_driver=False, logging_level=logging.ERROR,
                   runtime_env={"env_vars": {"DAE_DATA_DIR": str(DATA_DIR)}})
    if not os.environ.get("RAY_ADDRESS"):
        cpus = max(os.cpu_count() or 1, max_runs())  # the cap, not Ray, decides what waits
        # address="local": always a Ray of our own, never one a `ray start` left on the machine
        options.update(address="local", num_cpus=cpus, object_store_memory=OBJECT_STORE_BYTES,
                       include_dashboard=False)
    return options


def _ray_env() -> dict:
    """LOCAL_RAY_ENV for a local Ray, less what the environment already sets; {} for a cluster."""
    if os.environ.get("RAY_ADDRESS"):
        return {}
    return {k: v for k, v in LOCAL_RAY_ENV.items() if k not in os.environ}


@contextmanager
def _environment(extra: dict):
    """os.environ with `extra` added for the duration, so that only the processes started
    meanwhile (a local Ray's) see them."""
    os.environ.update(extra)
    try:
        yield
    finally:
        for key in extra:
            os.environ.pop(key, None)


def where() -> str:
    """Where runs train, in words: 'a local Ray' or 'the Ray cluster at ADDRESS'."""
    address = os.environ.get("RAY_ADDRESS")
    return f"the Ray cluster at {address}" if address else "a local Ray"


class _Start:
    """One ray.init, in a thread that lives as long as this process; `done` is set when it ends.

    On Linux a local Ray's processes get the parent-death signal (prctl PR_SET_PDEATHSIG), which
    fires when the *thread* that started them ends, and Streamlit runs every page in a thread
    that ends with the run: started from there, Ray would die after the first page run.
    """

    def __init__(self, options: dict, env: dict | None = None):
        self.options, self.env, self.done = options, env or {}, threading.Event()
        self.error: JobError | None = JobError(f"cannot start training on {where()}: the start ended early")
        threading.Thread(target=self._run, name="dae-ray", daemon=True).start()

    def _run(self) -> None:
        try:
            self._start()
        finally:
            self.done.set()
        if self.error is None:
            threading.Event().wait()  # hold the thread (and so Ray's processes) until exit

    def _start(self) -> None:
        try:
            if os.environ.get("RAY_ADDRESS"):
                _probe(os.environ["RAY_ADDRESS"])
            with _environment(self.env):
                context = ray.init(**self.options)
            self.error = None
            if not os.environ.get("RAY_ADDRESS"):
                _log_where_logs_are(context)
        except JobError as e:
            log.error("%s", e, exc_info=True)
            self.error = e
        except Exception as e:  # noqa: BLE001  whatever Ray raises, the user gets one line
            log.error("cannot start training on %s", where(), exc_info=True)
            self.error = JobError(f"cannot start training on {where()}: {_one_line(e)}")
        if self.error is not None:
            _shutdown()  # whatever half of Ray came up, so the next start begins from scratch


def _log_where_logs_are(context) -> None:
    """INFO: the local Ray's log folder, where each worker's output is kept, and this job's id."""
    try:
        session = context.address_info["session_dir"]
        job = ray.get_runtime_context().get_job_id()
    except Exception:  # noqa: BLE001  a missing path is no reason to fail the start
        log.debug("Ray did not say where its logs are", exc_info=True)
        return
    log.info("local Ray started; every worker's output is kept in %s/logs "
             "(worker-<worker id>-%s-<pid>.out and .err for this server's runs)", session, job)


def _probe(address: str) -> None:
    """Refuse at once an address where nothing listens, which ray.init would retry for minutes."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # not host:port; ray.init says what is wrong with it
        return
    if not host or port is None or parts.scheme not in ("", "ray"):
        return
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
        raise JobError(f"cannot reach the Ray cluster at {address} ({why}); check RAY_ADDRESS, "
                       "or unset it to train on this machine") from None


def _one_line(error: Exception) -> str:
    """'Type: text' on one line; an OSError also names the temp folder Ray writes (full or read-only)."""
    text = one_line(error)
    if isinstance(error, OSError) and not isinstance(error, ConnectionError):
        text += " (Ray needs a writable temp folder with free space: $RAY_TMPDIR, else /tmp/ray)"
    return text


def _shutdown() -> None:
    """ray.shutdown(), whose own failure leaves nothing more to undo."""
    try:
        ray.shutdown()
    except Exception:  # noqa: BLE001
        log.warning("ray.shutdown failed after a failed start", exc_info=True)


def disconnect() -> None:
    """Shut Ray down after it broke under a started run, so the next connect() starts it again."""
    with _connect_lock:
        if _starting is None or _starting.done.is_set():
            _shutdown()
            scheduler.forget()
