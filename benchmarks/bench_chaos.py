"""The app server through Ray's faults: one JSON line per fault.

    .venv/bin/python benchmarks/bench_chaos.py [--mode gcs raylet dashboard run-worker
        analysis-worker unreachable] [--unreachable-s 180] [--watch-s 70]

For each mode: a fresh local Ray head (on ports of its own) and a fresh app server; a run
training (with at least one finished epoch) and an analysis job running; then the fault:
`kill -9` of the head's GCS, its raylet, its dashboard (the job server), the run's training
process or the analysis' process; or, for `unreachable`, the whole head stopped (SIGSTOP) for
--unreachable-s seconds, as a head that a network cut off. Meanwhile the pages are visited
over Streamlit's websocket, one after another, for --watch-s seconds (past Ray's one minute)
or the outage. Then the next need starts Ray again, as the app does, and a new run trains.

    server_alive            the app server's process is up at the end
    page_p95_s_during       95th percentile of the page visits' seconds during the fault
    pages_failed_during     page visits that did not finish (an error or a time limit)
    seconds_to_train_again  from the end of the fault to a new 1-epoch run finished
    runs_lost               runs whose finished epochs were gone after the fault (of 1)

Everything (Ray, the server, the runs, this script) shares the machine's cores.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dae_core import TrainConfig
from dae_core.serve import analyses, jobs, ray_jobs, training
from dae_harness import browser
from dae_harness.wsclient import Tab

MODES = ("gcs", "raylet", "dashboard", "run-worker", "analysis-worker", "unreachable")
PATTERN = {"gcs": "gcs_server.*{tmp}", "raylet": "raylet.*{tmp}", "dashboard": "dashboard.py.*{tmp}",
           "run-worker": "dae_core train --run-dir", "analysis-worker": "dae_core analyse"}
PAGES = ("", "Train", "Denoise", "Generate", "Cluster")
RUN = TrainConfig(train_subset=3000, epochs=200, batch_size=64, device="cpu")
AGAIN = TrainConfig(train_subset=1200, epochs=1, batch_size=64, device="cpu")


def pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


async def visit(url: str, page: str, query: str = "") -> float | None:
    """Seconds of one page's first run, or None when it did not finish."""
    tab = Tab(url, timeout=30)
    try:
        t = time.monotonic()
        done = await tab.open(page, query)
        return time.monotonic() - t if done.status == "finished" else None
    except Exception:  # noqa: BLE001  a page that did not answer counts as failed
        return None
    finally:
        await tab.close()


def watch(url: str, seconds: float, run_id: str) -> list[float | None]:
    """Visit the pages one after another for `seconds` -> each visit's seconds (None: failed)."""
    out, end, i = [], time.monotonic() + seconds, 0
    while time.monotonic() < end:
        page = PAGES[i % len(PAGES)]
        out.append(asyncio.run(visit(url, page, f"run={run_id}" if page == "Train" else "")))
        i += 1
    return out


def start_analysis(checkpoint: Path) -> str:
    """A t-SNE map job of a shipped model (minutes of work on this machine) -> its job id."""
    from dae_core import checkpoint as ckpt_io
    from dae_core import store

    ck = ckpt_io.load(checkpoint)
    spec = {"kind": "map", "checkpoint": str(checkpoint), "projection": "tsne", "n": 20000,
            "seed": int(time.time())}  # a seed nobody has asked for: never cached
    job = analyses.job_id(spec, store.fingerprint(ck.model, ck.config))
    jobs.submit(job, "analysis", jobs.command("analyse", "--spec", json.dumps(spec)), "chaos t-SNE")
    return job


def one(mode: str, args, base: Path) -> dict:
    os.environ.pop("RAY_ADDRESS", None)
    os.environ["DAE_RUNS_DIR"] = str(base / mode / "runs")
    os.environ["DAE_RAY_PORT"], os.environ["DAE_RAY_DASHBOARD_PORT"] = str(args.port), str(args.port + 10)
    ray_jobs.stop_local_head()
    ray_jobs.ensure_head(wait_s=180)
    proc, url = browser.start_server(base / mode / "runs", log=base / f"{mode}-server.log",
                                     env={"DAE_CACHE_DIR": str(base / "cache")})
    try:
        run = training.start(RUN.to_dict(), RUN.epochs)
        browser.wait_until(lambda: run.history(), 300)
        analysis = start_analysis(Path(__file__).resolve().parents[1] / "checkpoints" / "denoise-d10.pt")
        browser.wait_until(lambda: jobs.state(analysis).status == "running" and pids(PATTERN["analysis-worker"]), 120)
        epochs_before = len(run.history())
        fault_start = time.monotonic()
        stopped: list[int] = []
        if mode == "unreachable":
            stopped = pids(ray_jobs.temp_dir())
            for p in stopped:
                os.kill(p, signal.SIGSTOP)
            times = watch(url, args.unreachable_s, run.id)
            for p in stopped:
                os.kill(p, signal.SIGCONT)
        else:
            for p in pids(PATTERN[mode].format(tmp=ray_jobs.temp_dir())):
                os.kill(p, signal.SIGKILL)
            times = watch(url, args.watch_s, run.id)
        fault_end = time.monotonic()
        training.stop(run)  # ends it if it trains on; a dead one is read as interrupted
        browser.wait_until(lambda: not training.state(run).active, 120)
        runs_lost = int(len(run.history()) < epochs_before or not run.has_checkpoint())
        t = time.monotonic()
        again = None
        for _ in range(3):  # the app's next need: Ray again if it is gone, then a run
            try:
                ray_jobs.ensure_head(wait_s=180)
                again = training.start(AGAIN.to_dict(), 1)
                break
            except Exception:  # noqa: BLE001  a head still going down: the next try starts one
                time.sleep(2)
        done = again is not None and browser.wait_until(lambda: training.state(again).status == "finished", 300)
        seconds_again = time.monotonic() - t if done else None
        ok = [s for s in times if s is not None]
        return {"mode": mode, "server_alive": proc.poll() is None,
                "page_p95_s_during": round(float(np.percentile(ok, 95)), 2) if ok else None,
                "pages_visited_during": len(times), "pages_failed_during": len(times) - len(ok),
                "fault_seconds": round(fault_end - fault_start, 1),
                "seconds_to_train_again": None if seconds_again is None else round(seconds_again, 1),
                "runs_lost": runs_lost}
    finally:
        browser.stop_server(proc)
        for p in pids("dae_core train --run-dir") + pids("dae_core analyse"):
            os.kill(p, signal.SIGKILL)
        ray_jobs.stop_local_head()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--unreachable-s", type=float, default=180.0)
    p.add_argument("--watch-s", type=float, default=70.0, help="pages visited this long after a kill")
    p.add_argument("--port", type=int, default=6600, help="the benchmark head's GCS port (+10: its job server)")
    p.add_argument("--write-docs", action="store_true", help="write the table into docs/speed.md")
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dae-chaos-"))
    rows = []
    for mode in args.mode:
        rows.append(one(mode, args, base))
        print(json.dumps(rows[-1]), flush=True)
    if args.write_docs:
        import report

        report.write("bench_chaos", docs_table(rows) + "\n\n" + report.stamp())
    return 0


FAULTS = {"gcs": "`kill -9` of the GCS", "raylet": "`kill -9` of the raylet",
          "dashboard": "`kill -9` of the job server (dashboard)",
          "run-worker": "`kill -9` of a run's training process",
          "analysis-worker": "`kill -9` of an analysis' process"}


def docs_table(rows: list[dict]) -> str:
    """The fault table of docs/speed.md, one row per mode run."""
    import report

    return report.table(
        ["fault", "server alive", "page visits (failed)", "page p95 during (s)",
         "seconds to train again", "runs lost"],
        [[FAULTS.get(r["mode"], f"the head unreachable for {r['fault_seconds']:.0f} s"),
          "yes" if r["server_alive"] else "**no**",
          f"{r['pages_visited_during']} ({r['pages_failed_during']})", r["page_p95_s_during"],
          r["seconds_to_train_again"], r["runs_lost"]] for r in rows])


if __name__ == "__main__":
    sys.exit(main())
