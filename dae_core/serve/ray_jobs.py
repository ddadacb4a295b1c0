"""Ray Jobs over HTTP, and a local Ray head started on demand.

The web server is never a Ray driver: it talks to the head's job server (the Ray Jobs REST API,
what `ray.job_submission.JobSubmissionClient` wraps) with a time limit on every request, so a
Ray that is gone or hangs costs a page one line, never the server process. Ray ends a driver whose
head has been gone for a minute; a client of the REST API has nothing to end.

A local head is started with `ray start --head` (daemons that outlive this process, and with
them every job), sized by the settings: `dae_run` and `dae_analysis` slots are Ray resources, so
Ray itself queues the jobs past them. On a cluster ($RAY_ADDRESS = the head's dashboard URL)
the head's operator declares those resources (docs/deploy.md).
"""
from __future__ import annotations

import glob
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from dae_core.errors import DaeError
from dae_core.settings import settings

log = logging.getLogger(__name__)
REQUEST_TIMEOUT_S = 1.5  # one HTTP request to the head's job server (a healthy one answers in ms)
SUBMIT_TIMEOUT_S = 10.0  # a submit starts the job's supervisor before it answers
QUIET_S = 5.0  # after a request that got no answer, others fail at once for this long
START_TIMEOUT_S = 60.0  # `ray start --head` on a loaded 2-core machine
PENDING_TIMEOUT_S = 7 * 24 * 3600  # a queued job waits for a slot this long (Ray's default: 15 min)
TEMP_ROOT = "/tmp/dae-ray-"  # + the port: the local head's folder; its processes are found by it
ACTIVE = ("PENDING", "RUNNING")


class RayUnavailable(DaeError):
    """The job server did not answer (Ray is down, starting, or unreachable); one line."""


@dataclass(frozen=True)
class JobInfo:
    """What the head says of one job."""

    id: str
    status: str  # PENDING | RUNNING | STOPPED | SUCCEEDED | FAILED
    message: str
    start_time: float  # seconds since the epoch; for a pending job, when it was submitted
    metadata: dict

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def address() -> str:
    """The job server's URL: $RAY_ADDRESS when it is one, else the local head's."""
    given = os.environ.get("RAY_ADDRESS", "").strip()
    if given.startswith(("http://", "https://")):
        return given.rstrip("/")
    return f"http://127.0.0.1:{settings().ray_dashboard_port}"


def temp_dir() -> str:
    return f"{TEMP_ROOT}{settings().ray_port}"


def is_local() -> bool:
    return not os.environ.get("RAY_ADDRESS", "").strip()


def where() -> str:
    return "the local Ray" if is_local() else f"the Ray cluster at {address()}"


_down: tuple[float, str] = (0.0, "")  # (monotonic time until which Ray counts as down, why)


def _request(method: str, path: str, body: dict | None = None, timeout: float = REQUEST_TIMEOUT_S,
             probe: bool = False):
    """(HTTP status, text) of one request; RayUnavailable when nothing answers in time. After a
    request that got no answer, the next ones within QUIET_S fail at once (`probe` asks anyway),
    so a page never waits on a Ray that is down more than once every few seconds."""
    global _down
    until, why = _down
    if not probe and time.monotonic() < until:
        raise RayUnavailable(why)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(address() + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **_auth()})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError) as e:  # refused, reset, timed out, a malformed address
        why = f"{where()} does not answer ({getattr(e, 'reason', e)})"
        _down = (time.monotonic() + QUIET_S, why)
        raise RayUnavailable(why) from None


def _token_path() -> str:
    return os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")


def _auth() -> dict:
    """Ray's token authentication header, from where Ray keeps the token: $RAY_AUTH_TOKEN, the
    file at $RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token ({} when there is none)."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        path = _token_path()
        try:
            with open(path) as f:
                token = f.read().strip()
        except OSError:
            return {}
    return {"Authorization": f"Bearer {token}"} if token else {}


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        raise RayUnavailable(f"{where()} answered something that is not JSON") from None


def alive(timeout: float = 5.0) -> bool:
    """Whether the job server answers about jobs within `timeout` and, for the local head, still
    has a live node. (Its /api/version answers for a minute after the head's GCS has died, and
    it takes jobs that no node will run after its raylet has died.) A slow answer is given time:
    a busy machine is no reason to start Ray again."""
    global _down
    try:
        ok = _request("GET", "/api/jobs/dae-health-check", timeout=timeout, probe=True)[0] in (200, 404)
    except RayUnavailable:
        return False
    if ok and is_local() and not _has_live_node(timeout):
        return False
    if ok:
        _down = (0.0, "")
    return ok


def _has_live_node(timeout: float) -> bool:
    """Whether Ray's state API lists a live node (True when it does not answer: unknown)."""
    try:
        status, text = _request("GET", "/api/v0/nodes?detail=false&limit=100", timeout=timeout, probe=True)
        nodes = json.loads(text)["data"]["result"]["result"] if status == 200 else None
    except (RayUnavailable, ValueError, KeyError, TypeError):
        return True
    return nodes is None or any(isinstance(n, dict) and n.get("state") == "ALIVE" for n in nodes)


def submit(job_id: str, argv: list[str], resources: dict, metadata: dict, env: dict | None = None) -> bool:
    """Submit `argv` as the job `job_id` -> True, or False when a job of that id exists already."""
    import shlex

    body = {"entrypoint": shlex.join(argv), "submission_id": job_id, "entrypoint_num_cpus": 0,
            "entrypoint_resources": resources, "metadata": {k: str(v) for k, v in metadata.items()},
            "runtime_env": {"env_vars": dict(env or {})}}
    status, text = _request("POST", "/api/jobs/", body, timeout=SUBMIT_TIMEOUT_S)
    if status == 200:
        return True
    if "already exists" in text:
        return False
    log.error("Ray refused job %s (HTTP %s): %s", job_id, status, text)
    raise RayUnavailable(f"{where()} refused the job (HTTP {status})")


def _info(data: dict) -> JobInfo:
    return JobInfo(data.get("submission_id") or data.get("job_id") or "", data.get("status", "FAILED"),
                   data.get("message") or "", (data.get("start_time") or 0) / 1000,
                   data.get("metadata") or {})


def info(job_id: str) -> JobInfo | None:
    """The job's state, or None when the head does not know it."""
    status, text = _request("GET", f"/api/jobs/{job_id}")
    if status == 404:
        return None
    if status != 200:
        raise RayUnavailable(f"{where()} did not say how job {job_id} is (HTTP {status})")
    return _info(_json(text))


def jobs() -> list[JobInfo]:
    """Every job the head knows."""
    status, text = _request("GET", "/api/jobs/")
    if status != 200:
        raise RayUnavailable(f"{where()} did not list its jobs (HTTP {status})")
    return [_info(d) for d in _json(text)]


def stop(job_id: str) -> None:
    """Ask Ray to stop the job (SIGTERM to its command, then SIGKILL); a job gone already is fine."""
    _request("POST", f"/api/jobs/{job_id}/stop")


def delete(job_id: str) -> None:
    """Forget an ended job, so that its id can be used again."""
    _request("DELETE", f"/api/jobs/{job_id}")


def logs(job_id: str) -> str:
    status, text = _request("GET", f"/api/jobs/{job_id}/logs")
    return _json(text).get("logs", "") if status == 200 else ""


# --- the local head


_start_lock = threading.Lock()  # one start at a time in this process; never held across a request
_starting: threading.Thread | None = None
_start_error: str = ""


def ensure_head(wait_s: float = 0.0) -> None:
    """Make sure a job server answers: on a cluster, check; locally, start a head when none answers
    (in the background; wait up to `wait_s` for it). RayUnavailable when none answers by then."""
    global _starting
    if alive():
        return
    if not is_local():
        raise RayUnavailable(f"{where()} does not answer; runs and analyses wait until it is back")
    with _start_lock:
        if _starting is None or not _starting.is_alive():
            _starting = threading.Thread(target=_start_head, name="dae-ray-start", daemon=True)
            _starting.start()
        starting = _starting
    deadline = time.monotonic() + wait_s
    starting.join(wait_s)
    while not alive() and time.monotonic() < deadline and not _start_error:
        time.sleep(0.5)  # `ray start` has returned; its job server takes a moment more
    if not alive():
        why = f" (the last start failed: {_start_error})" if _start_error and not starting.is_alive() else ""
        raise RayUnavailable(f"a local Ray is starting{why}; try again in a few seconds")


def _start_head() -> None:
    """`ray stop` of what is left of our head, then `ray start --head`; the outcome is logged."""
    global _start_error
    s = settings()
    stop_local_head()
    resources = json.dumps({"dae_run": s.max_runs, "dae_analysis": s.max_analyses})
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    argv = [ray, "start", "--head", "--port", str(s.ray_port), "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(s.ray_dashboard_port), "--include-dashboard", "true",
            "--num-cpus", str(os.cpu_count() or 1), "--resources", resources, "--temp-dir", temp_dir(),
            "--disable-usage-stats", "--dashboard-agent-listen-port", str(s.ray_dashboard_port + 1)]
    env = {**os.environ, "RAY_JOB_START_TIMEOUT_SECONDS": str(PENDING_TIMEOUT_S),
           "RAY_AUTH_MODE": "token",  # the job server runs commands: only holders of the token may ask
           # idle workers end soon: a finished job's memory goes back to the machine
           "RAY_num_workers_soft_limit": "0", "RAY_idle_worker_killing_time_threshold_ms": "60000"}
    t = time.monotonic()
    try:
        _ensure_token(ray, env)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                              start_new_session=True)  # not in our process group: Ctrl-C leaves it be
    except (OSError, subprocess.TimeoutExpired) as e:
        _start_error = str(e).splitlines()[0]
        log.error("could not start a local Ray: %s", e)
        return
    if done.returncode != 0:
        _start_error = (done.stderr.strip().splitlines() or ["ray start failed"])[-1][:200]
        log.error("could not start a local Ray (exit %s):\n%s", done.returncode, done.stderr)
        return
    _start_error = ""
    log.info("local Ray started in %.1f s: jobs at %s, logs in %s", time.monotonic() - t, address(), temp_dir())


def _ensure_token(ray: str, env: dict) -> None:
    """A head with token authentication will not start without a token: on a machine that has
    none, `ray get-auth-token --generate` writes one to ~/.ray/auth_token (or $RAY_AUTH_TOKEN_PATH),
    which only this user may then read. Its output, the token itself, is not kept."""
    if _auth():
        return
    subprocess.run([ray, "get-auth-token", "--generate"], env=env, capture_output=True,
                   timeout=START_TIMEOUT_S, start_new_session=True)
    if os.path.exists(_token_path()):
        os.chmod(_token_path(), 0o600)
        log.info("generated Ray's authentication token at %s", _token_path())


def stop_local_head() -> None:
    """End what is left of the local head: its processes (head_processes), so that a user's other
    Ray on this machine is left alone."""
    for pid in head_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass  # gone already, or not ours to end
    time.sleep(0.5)  # their ports are free once they are gone


def head_processes() -> set[int]:
    """The local head's processes: those whose command line names its folder or its GCS port
    (Ray's client server names only the port), and every process these started. Ray's agents
    and the dashboard's modules name neither once they have set their titles; a head ended
    without them would leave them running."""
    port = settings().ray_port
    found: set[int] = set()
    for pattern in (temp_dir(), f"address=[^ ]+:{port}( |$)"):
        try:
            out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            log.warning("could not list the old local Ray's processes: %s", e)
            continue
        found.update(int(p) for p in out.split())
    children = _children()
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    found.discard(os.getpid())
    return found


def _children() -> dict[int, list[int]]:
    """Process id -> the ids of its children, from /proc ({} where there is none)."""
    out: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out.setdefault(parent, []).append(int(stat.split("/")[2]))
    return out
