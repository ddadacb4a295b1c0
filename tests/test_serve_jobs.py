"""dae_core.serve.jobs and ray_jobs against a stand-in for Ray's job server (its REST API, on
loopback): deduplication, retries, shared answers, time limits, cancels, failures in one line."""
import json
import logging
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dae_core.serve.jobs import JOB_NICENESS, yield_to_the_server
from dae_core.serve import jobs, ray_jobs
from dae_core.serve.ray_jobs import RayUnavailable


class JobServer:
    """The part of Ray's job server the app uses: submit, look up, list, stop, delete, logs."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.logs: dict[str, str] = {}
        self.nodes: list[dict] = [{"node_id": "n1", "state": "ALIVE"}]  # Ray's state API (/api/v0/nodes)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self):
                server.requests.append((self.command, self.path, dict(self.headers)))

            def do_GET(self):
                self._record()
                if self.path.startswith("/api/v0/nodes"):
                    return self._send(200, {"result": True, "data": {"result": {"result": server.nodes}}})
                parts = self.path.strip("/").split("/")  # api jobs [id [logs]]
                if len(parts) == 2:
                    return self._send(200, list(server.jobs.values()))
                job = server.jobs.get(parts[2])
                if job is None:
                    return self._send(404, f"Job {parts[2]} does not exist")
                if len(parts) == 4:
                    return self._send(200, {"logs": server.logs.get(parts[2], "")})
                return self._send(200, job)

            def do_POST(self):
                self._record()
                parts = self.path.strip("/").split("/")
                if len(parts) == 4 and parts[3] == "stop":
                    if parts[2] in server.jobs:
                        server.jobs[parts[2]]["status"] = "STOPPED"
                    return self._send(200, {"stopped": True})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sid = body["submission_id"]
                if sid in server.jobs:
                    return self._send(500, f"ValueError: Job with submission_id {sid} already exists.")
                server.jobs[sid] = {"submission_id": sid, "status": "PENDING", "message": "",
                                    "start_time": time.time() * 1000 + len(server.jobs),
                                    "metadata": body["metadata"], "entrypoint": body["entrypoint"],
                                    "resources": body["entrypoint_resources"]}
                return self._send(200, {"job_id": sid, "submission_id": sid})

            def do_DELETE(self):
                self._record()
                server.jobs.pop(self.path.strip("/").split("/")[2], None)
                return self._send(200, {"deleted": True})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, method: str, prefix: str = "/api/jobs/") -> int:
        return sum(m == method and p.startswith(prefix) for m, p, _ in self.requests)


@pytest.fixture
def server(monkeypatch):
    s = JobServer()
    monkeypatch.setenv("RAY_ADDRESS", f"http://127.0.0.1:{s.port}")  # a cluster: nothing is started
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret-token")
    monkeypatch.setattr(ray_jobs, "_down", (0.0, ""))
    monkeypatch.setattr(jobs, "_seen", {})
    yield s
    s.httpd.shutdown()


def submit(job_id="dae-analysis-x", again=False):
    return jobs.submit(job_id, "analysis", jobs.command("analyse", "--spec", "{}"), "an analysis", again=again)


def test_one_analysis_asked_twice_is_one_job_and_the_second_asker_joins_it(server):
    assert submit().status == "queued"
    assert submit().status == "queued"
    assert list(server.jobs) == ["dae-analysis-x"] and server.count("POST") == 2
    job = server.jobs["dae-analysis-x"]
    assert job["resources"] == {"dae_analysis": 1} and job["metadata"]["dae"] == "analysis"
    assert " -m dae_core analyse --spec " in job["entrypoint"]


def test_every_request_carries_rays_token(server):
    submit()
    jobs.state("dae-analysis-x")
    assert server.requests and all(h.get("Authorization") == "Bearer secret-token" for _, _, h in server.requests)


def test_a_machine_without_rays_token_gets_one_only_its_user_may_read(tmp_path, monkeypatch):
    token = tmp_path / "ray" / "auth_token"
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    calls = tmp_path / "calls"
    fake_ray = tmp_path / "ray-cli"  # stands in for `ray get-auth-token --generate`
    fake_ray.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nmkdir -p {token.parent}\n'
                        f'echo made-token > "$RAY_AUTH_TOKEN_PATH"\necho made-token\n')
    fake_ray.chmod(0o755)
    ray_jobs._ensure_token(str(fake_ray), dict(os.environ))
    assert calls.read_text().split() == ["get-auth-token", "--generate"]
    assert token.stat().st_mode & 0o777 == 0o600
    assert ray_jobs._auth() == {"Authorization": "Bearer made-token"}
    ray_jobs._ensure_token(str(fake_ray), dict(os.environ))  # one there: nothing more is made
    assert len(calls.read_text().splitlines()) == 1


def test_a_failed_analysis_can_be_asked_again_at_once(server):
    submit()
    server.jobs["dae-analysis-x"]["status"] = "FAILED"
    server.logs["dae-analysis-x"] = "loading...\nerror: a checkpoint name is 1-64 letters\n"
    assert submit().status == "failed"  # asked without 'again': its outcome
    state = jobs.state("dae-analysis-x")
    assert state.status == "failed" and state.message == "a checkpoint name is 1-64 letters"
    assert submit(again=True).status == "queued"  # Try again: replaced, not refused
    assert server.jobs["dae-analysis-x"]["status"] == "PENDING" and server.count("DELETE") == 1


def test_sessions_polling_one_job_share_one_answer(server):
    submit("dae-run-a")
    before = server.count("GET")
    states = [jobs.state("dae-run-a") for _ in range(30)]
    assert {s.status for s in states} == {"queued"}
    assert server.count("GET") - before <= 2  # one look-up (and one listing, for its place) for 30


def test_a_queued_job_knows_its_place_among_its_kind(server):
    for name in ("dae-run-a", "dae-run-b", "dae-run-c"):
        jobs.submit(name, "run", ["true"], name)
    submit("dae-analysis-x")
    state = jobs.state("dae-run-b")
    assert (state.status, state.place, state.queued) == ("queued", 2, 3)


def test_a_cancel_is_logged_once_as_a_cancel(server, caplog):
    submit()
    with caplog.at_level(logging.INFO, logger="dae_core.serve.jobs"):
        jobs.cancel("dae-analysis-x", "an analysis")
    assert server.jobs["dae-analysis-x"]["status"] == "STOPPED"
    lines = [r.getMessage() for r in caplog.records if "an analysis" in r.getMessage()]
    assert lines == ["cancelled: an analysis (dae-analysis-x)"]
    assert jobs.state("dae-analysis-x").status == "cancelled"


@pytest.fixture
def silent(monkeypatch):
    """A port that accepts connections and never answers (a head that hangs) -> a function that
    counts the connections made to it so far."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    monkeypatch.setenv("RAY_ADDRESS", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setattr(ray_jobs, "_down", (0.0, ""))
    monkeypatch.setattr(jobs, "_seen", {})
    accepted = []

    def connections() -> int:
        while True:
            try:
                accepted.append(sock.accept()[0])
            except BlockingIOError:
                return len(accepted)

    yield connections
    for conn in accepted:
        conn.close()
    sock.close()


def returns_within(seconds: float, call):
    """call()'s value; fails the test, rather than hanging it, when call has not returned by then."""
    out = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert out, f"no answer after {seconds} s"
    return out[0]


@pytest.mark.slow  # takes seconds
def test_a_head_that_hangs_costs_one_time_limit_then_answers_at_once(silent, monkeypatch):
    """(How long pages take meanwhile: benchmarks/bench_chaos.py --mode unreachable.)"""
    limits, urlopen = [], ray_jobs.urllib.request.urlopen
    monkeypatch.setattr(ray_jobs.urllib.request, "urlopen",
                        lambda req, timeout: limits.append(timeout) or urlopen(req, timeout=timeout))
    state = returns_within(60, lambda: jobs.state("dae-run-a"))
    assert state.status == "unavailable" and "does not answer" in state.message
    assert silent() == 1 and limits == [ray_jobs.REQUEST_TIMEOUT_S]  # one request, given up in time
    for name in ("dae-run-b", "dae-run-c", "dae-run-d"):
        assert jobs.state(name).status == "unavailable"
    assert silent() == 1 and len(limits) == 1  # the next ones within QUIET_S fail without a request
    with pytest.raises(RayUnavailable):
        submit()  # a cluster that does not answer: one line, nothing started


def test_nothing_listening_is_one_line(monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    monkeypatch.setenv("RAY_ADDRESS", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(ray_jobs, "_down", (0.0, ""))
    monkeypatch.setattr(jobs, "_seen", {})
    with pytest.raises(RayUnavailable) as error:
        ray_jobs.ensure_head()
    assert "\n" not in str(error.value) and f"127.0.0.1:{port}" in str(error.value)


def test_a_local_head_without_a_live_node_is_not_alive(server, monkeypatch):
    """A head whose raylet died still answers about jobs, and takes jobs no node will run: the
    app must start Ray again rather than queue there."""
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setenv("DAE_RAY_DASHBOARD_PORT", str(server.port))  # the local head, as the app sees it
    assert ray_jobs.is_local() and ray_jobs.alive()
    server.nodes = [{"node_id": "n1", "state": "DEAD"}]
    assert not ray_jobs.alive()
    server.nodes = []
    assert not ray_jobs.alive()


def test_a_job_that_died_of_an_unexpected_error_is_its_last_line_not_a_traceback(server):
    submit()
    server.jobs["dae-analysis-x"].update(status="FAILED", message="Job entrypoint command failed with exit "
                                         "code 1, last available logs: Traceback (most recent call last): ...")
    server.logs["dae-analysis-x"] = ("Traceback (most recent call last):\n  File \"/srv/app/x.py\", line 3\n"
                                     "    boom()\nNameError: name 'boom' is not defined\n")
    assert jobs.state("dae-analysis-x").message == "NameError: name 'boom' is not defined"


@pytest.mark.parametrize("now", [0, 3, JOB_NICENESS, 19])
def test_a_job_process_runs_below_the_servers_cpu_priority(monkeypatch, now):
    """A job lowers its priority to JOB_NICENESS, never raises it (an unprivileged process cannot)."""
    calls = []
    monkeypatch.setattr(os, "nice", lambda inc: calls.append(inc) or now + inc)
    yield_to_the_server()
    assert calls == [0, max(0, JOB_NICENESS - now)] and 0 < JOB_NICENESS <= 19
