"""A class on one server: N sessions at once over Streamlit's websocket protocol (no browser).

Each session visits every page with random URL settings (a shipped model, or one it uploads) and
changes a few widgets; a few start short training runs, others ask the same UMAP clustering that
no cache holds; then one session walks many distinct settings, to show the server's memory and
its disk cache stay bounded. Measured: seconds from each run's BackMsg to its script_finished
(page runs, widget changes; those that asked a new fit apart), the fits the server logged, the
server's CPU and memory, Ray's memory, the disk cache against its cap.

    python benchmarks/bench_load.py --sessions 4 --distinct 20 --json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dae_core.settings import settings
from dae_harness import browser

# The modules beside this script (load_sessions, load_probe, report) are imported where they are
# used: `python benchmarks/bench_load.py` puts their folder on the import path, and --help works
# without it too (a script run by runpy.run_path, say).
if TYPE_CHECKING:
    from load_probe import Probe
    from load_sessions import Record


def summary(rec: Record, probe: Probe, n: int, walk_out: dict, wall: float) -> dict:
    from load_sessions import quantile

    done = {k: [s for kind, s, status in rec.runs if kind == k and status == "finished"]
            for k in ("page", "widget", "fit", "distinct")}
    umap = [w for w in rec.waits["umap"] if w is not None]
    train = [w for w in rec.waits["train"] if w is not None]
    return {"sessions": n, "wall_s": round(wall, 1),
            "page_runs": len(done["page"]), "page_p50_s": quantile(done["page"], 0.5),
            "page_p95_s": quantile(done["page"], 0.95),
            "widget_runs": len(done["widget"]), "widget_p50_s": quantile(done["widget"], 0.5),
            "widget_p95_s": quantile(done["widget"], 0.95),
            "fit_runs": len(done["fit"]), "fit_p50_s": quantile(done["fit"], 0.5),
            "fit_p95_s": quantile(done["fit"], 0.95),
            "umap_waits": len(rec.waits["umap"]), "umap_wait_p50_s": quantile(umap, 0.5),
            "umap_wait_max_s": quantile(umap, 1.0),
            "train_waits": len(rec.waits["train"]), "train_wait_max_s": quantile(train, 1.0),
            "waits_past_limit": sum(w is None for ws in rec.waits.values() for w in ws),
            **probe.log_counts(), **probe.peaks(),
            "unfinished_scripts": sum(status != "finished" for _, _, status in rec.runs),
            "slowest": [f"{kind} {seconds:.1f} s: {what}" for (kind, seconds, _), what in sorted(
                zip(rec.runs, rec.where), key=lambda r: -r[0][1]) if kind in ("page", "widget")][:8],
            "distinct": {**walk_out, "run_p50_s": quantile(done["distinct"], 0.5)},
            "errors": rec.errors[:20]}


async def bench(args) -> dict:
    from dae_core.serve import ray_jobs
    from load_probe import Probe
    from load_sessions import MODELS, UMAP, UMAP_MODEL, Record, roles, session, shipped_clusterings, walk

    base = Path(tempfile.mkdtemp(prefix="dae-load-"))
    env = {"DAE_CACHE_DIR": str(base / "cache"), "DAE_MAX_RUNS": "2", "DAE_LOG_LEVEL": "INFO",
           "DAE_CACHE_MAX_MB": str(args.cache_mb), "DAE_RAY_PORT": "6700", "DAE_RAY_DASHBOARD_PORT": "6710"}
    os.environ.update({k: v for k, v in env.items() if k.startswith("DAE_RAY") or k == "DAE_MAX_RUNS"})
    os.environ.pop("RAY_ADDRESS", None)
    ray_jobs.stop_local_head()  # a head of this benchmark's own, sized by DAE_MAX_RUNS
    log = Path(args.log or base / "server.log")
    proc, url = browser.start_server(base / "runs", log=log, env=env, timeout=120)
    try:
        shipped = shipped_clusterings(MODELS)
        umap_seed = next(s for s in range(101, 10_000)
                         if ("clustering", UMAP_MODEL, *UMAP.values(), s) not in shipped)
        rec = Record(shipped)
        probe = Probe(proc.pid, base / "cache", args.cache_mb, log)
        sampler = asyncio.create_task(probe.sample_every(0.5))
        start = time.perf_counter()
        await asyncio.gather(*(session(i, role, url, rec, args, umap_seed)
                               for i, role in enumerate(roles(args.sessions))))
        walk_out = await walk(url, rec, probe, args.distinct, args) if args.distinct else {}
        wall = time.perf_counter() - start
        sampler.cancel()
        probe.sample()
        out = summary(rec, probe, args.sessions, walk_out, wall)
        return out | {"think_s": args.think, "server_log": str(log)}
    finally:
        browser.stop_server(proc)
        ray_jobs.stop_local_head()
        for folder in ("cache", "runs"):  # the log stays
            shutil.rmtree(base / folder, ignore_errors=True)


def docs_table(out: dict) -> str:
    """The table of docs/speed.md for one run of this benchmark."""
    import report

    s = lambda v: "–" if v is None else f"{v:.2f} s"  # noqa: E731
    rows = [
        ["page runs needing no fit: median / p95", f"{s(out['page_p50_s'])} / **{s(out['page_p95_s'])}** ({out['page_runs']} runs)"],
        ["widget changes needing no fit: median / p95", f"{s(out['widget_p50_s'])} / **{s(out['widget_p95_s'])}** ({out['widget_runs']} runs)"],
        ["runs that asked a fit or waited on one: median / p95", f"{s(out['fit_p50_s'])} / {s(out['fit_p95_s'])} ({out['fit_runs']} runs)"],
        ["analyses run as jobs / started twice", f"{out['fits_run']} / {out['fits_started_twice']}"],
        ["the UMAP fit asked by ten sessions: their longest wait", s(out["umap_wait_max_s"])],
        ["CPU time: the server / Ray's processes and the jobs", f"{out['server_cpu_s']:.0f} s / {out['ray_cpu_s']:.0f} s"],
        ["server memory: peak", f"**{out['server_rss_mb']:.0f} MiB**"],
        ["Ray's processes and the jobs: peak RSS / PSS", f"{out['ray_rss_mb']:.0f} MiB / **{out['ray_pss_mb']:.0f} MiB**"],
        ["scripts with no `script_finished`", out["unfinished_scripts"]],
    ]
    return report.table(["what", f"{out['sessions']} sessions"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=30, help="browser sessions at once")
    p.add_argument("--distinct", type=int, default=300, help="distinct settings walked after")
    p.add_argument("--changes", type=int, default=2, help="widget changes per page visit")
    p.add_argument("--stagger", type=float, default=3.0, help="sessions start within this many s")
    p.add_argument("--think", type=float, default=0.0,
                   help="mean seconds a visitor pauses before each page visit and widget change "
                   "(0: each action at once after the last, a class at full speed)")
    p.add_argument("--umap-share", type=float, default=0.1,
                   help="share of browsing visits to Cluster that pick a UMAP method")
    p.add_argument("--train-epochs", type=int, default=2)
    p.add_argument("--train-subset", type=int, default=3000)
    p.add_argument("--run-timeout", type=float, default=180.0, help="s a script run may take")
    p.add_argument("--fit-timeout", type=float, default=900.0,
                   help="s a UMAP fit or a training run may take to show its result")
    p.add_argument("--cache-mb", type=int, help="the disk cache's cap (DAE_CACHE_MAX_MB)",
                   default=int(settings().cache_max_mb))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log", help="the server's log file (default: in the temporary folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--write-docs", action="store_true", help="write the table into docs/speed.md")
    args = p.parse_args()
    out = asyncio.run(bench(args))
    if args.write_docs:
        import report

        report.write("bench_load", docs_table(out) + "\n\n" + report.stamp())
    if args.json:
        print(json.dumps(out))
        return
    for key, value in out.items():
        print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
