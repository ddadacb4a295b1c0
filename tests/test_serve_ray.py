"""On a real local Ray: a run as a job, an analysis asked twice, and the app server through a
`kill -9` of the head's GCS (the fault that used to end it: Ray ends a driver whose GCS has been
gone for a minute; the server is no driver)."""
import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dae_core import TrainConfig
from dae_core.serve.jobs import JOB_NICENESS
from dae_core.serve import jobs, ray_jobs, runs, training
from dae_harness import browser
from dae_harness import procs
from dae_harness.wsclient import Tab
from ray_head import local_head

pytestmark = pytest.mark.slow
TINY = TrainConfig(train_subset=600, epochs=2, batch_size=64, device="cpu")


def wait_for(condition, timeout: float, what: str):
    value = browser.wait_until(condition, timeout)
    assert value, f"gave up waiting for {what}"
    return value


def gcs_pid() -> int:
    out = subprocess.run(["pgrep", "-f", f"gcs_server.*{ray_jobs.temp_dir()}"], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def visit(url: str, page: str, query: str = "") -> list[str]:
    """The texts of one page's first run (which must finish; how fast is bench_chaos.py's)."""
    async def run():
        tab = Tab(url, timeout=120)
        try:
            done = await tab.open(page, query)
            assert done.status == "finished", done.status
            return done.texts()
        finally:
            await tab.close()

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_the_server_outlives_a_killed_gcs_and_ray_comes_back_for_new_runs(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    monkeypatch.setenv("DAE_RUNS_DIR", str(runs_dir))
    with local_head() as env:
        proc, url = browser.start_server(runs_dir, log=tmp_path / "server.log", env=env)
        try:
            run = training.start(TINY.to_dict(), 100)  # long enough to be training at the kill
            wait_for(lambda: training.state(run).status == "running" and run.history(), 120, "an epoch")
            assert [procs.niceness(p) for p in procs.run_workers(runs_dir)] == [JOB_NICENESS]  # below the server
            os.kill(gcs_pid(), signal.SIGKILL)
            killed = time.monotonic()

            # Meanwhile every page answers, Train with a line on what it cannot reach
            texts = visit(url, "Train", f"run={run.id}")
            assert any("epoch" in t.lower() for t in texts) and not any("Traceback" in t for t in texts)

            # The next need starts Ray again. The run that was training is kept on disk: its process
            # either died with the old head (interrupted) or trains on and stops when asked.
            ray_jobs.ensure_head(wait_s=120)
            training.stop(run)
            state = wait_for(lambda: next((s for s in [training.state(run)] if not s.active), None), 90,
                             "the old run's end")
            assert state.status in ("interrupted", "stopped") and run.has_checkpoint()
            again = training.start(TINY.to_dict(), 1)
            wait_for(lambda: training.state(again).status == "finished", 180, "a new run to finish")

            # Past Ray's one-minute limit for a driver without its GCS, the server is still up
            time.sleep(max(0.0, 65 - (time.monotonic() - killed)))
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert any("DAE Lab" in t for t in visit(url, ""))
        finally:
            browser.stop_server(proc)
            for r in runs.all_runs(runs_dir):
                r.ask_stop()  # no trainer outlives the test


def test_an_analysis_asked_twice_is_one_job_and_its_result_lands_in_the_cache(tmp_path, monkeypatch, ckpt_path):
    from dae_core import checkpoint, store
    from dae_core.serve import analyses

    monkeypatch.setenv("DAE_RUNS_DIR", str(tmp_path / "runs"))
    ck = checkpoint.load(ckpt_path)
    fp = store.fingerprint(ck.model, ck.config)
    spec = {"kind": "map", "checkpoint": str(ckpt_path), "projection": "tsne", "n": 300, "seed": 0}
    job = analyses.job_id(spec, fp)
    argv = jobs.command("analyse", "--spec", __import__("json").dumps(spec))
    with local_head():
        assert jobs.submit(job, "analysis", argv, "a t-SNE map").status == "queued"
        jobs.submit(job, "analysis", argv, "a t-SNE map")  # a second asker joins it
        assert [j.id for j in ray_jobs.jobs() if j.id == job] == [job]
        wait_for(lambda: jobs.state(job).ended, 180, "the map")
        assert jobs.state(job).status == "done", ray_jobs.logs(job)[-2000:]
    from dae_core.analysis.embed import MAP, map_params
    from dae_core.analysis.pipeline import encoded

    codes = encoded(ck.model, ck.config, fp)
    found = store.get(MAP, fp, map_params("tsne", len(codes.z_train), 300, 0))
    assert found is not None and found[1].shape == (min(300, len(codes.z_train)), 2)


def test_dae_train_ray_trains_as_a_job_and_writes_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("DAE_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "ray.pt"
    with local_head() as env:
        done = subprocess.run([sys.executable, "-m", "dae_core", "train", "--ray", "--train-subset", "600", "--epochs", "1",
                               "--batch-size", "64", "--out", str(out)], capture_output=True, text=True,
                              timeout=300, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.is_file() and "after 1 epoch;" in done.stdout
    (folder,) = runs.all_runs(tmp_path / "runs")
    assert folder.status()["status"] == "finished"


def command_line(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")


def running(pid: int) -> bool:
    """Whether the process is alive and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ending_the_local_head_ends_every_process_it_started():
    """Ray's agents and the dashboard's modules do not name the head's folder once they have set
    their titles, and its client server names only its port: the app's restart of a head after a
    fault used to leave them running, a few hundred MiB each time."""
    with local_head():
        found = ray_jobs.head_processes()
        lines = [command_line(p) for p in found]
        for part in ("gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent",
                     "ray.util.client.server", "ray-dashboard-JobHead"):
            assert any(part in line for line in lines), (part, lines)
        ray_jobs.stop_local_head()
        assert wait_for(lambda: not any(running(p) for p in found), 10, "the head's processes to end")
