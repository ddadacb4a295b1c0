"""The local Ray under failure and at rest, seen from the app.

    .venv/bin/python benchmarks/bench_chaos.py [--mode idle|raylet|both] [--idle 330]
        [--max-runs N] [--ray-defaults]

idle:   a fresh local Ray (DAE_MAX_RUNS sets how many CPUs it is given, as on a larger machine),
        one tiny run trained to its end and released, and one analysis task (a Ray task as
        dae_core.analyses sends them, which loads PyTorch in its worker); then the memory of
        every process that Ray started (the sum of their RSS, and of their PSS, which counts a
        shared page once) right after them and after --idle seconds with nothing to do, and how
        many idle Ray workers (`ray::IDLE` in ps) are left. An idle worker is given back after
        dae_core.ray_start.IDLE_WORKER_KEEP_S (300 s), so --idle defaults to a little more.
raylet: a run training, then `kill -9` of the local Ray's raylet: seconds until the run's handle
        says failed, and until the next submit has started a new Ray and trained a run.
--ray-defaults sets Ray's own defaults for the settings dae_core.ray_start gives a local Ray
(environment variables it would otherwise fill in), to measure what they change.

Prints one JSON object. Ray, the runs and this script share the machine's cores.
"""
import argparse
import json
import os
import signal
import time

import numpy as np
from dae_harness.browser import descendants

from dae_core.analyses import RayRunner

RAY_DEFAULTS = {  # Ray 2.60's own values (src/ray/common/ray_config_def.h)
    "RAY_health_check_period_ms": "3000",
    "RAY_health_check_failure_threshold": "5",
    "RAY_num_workers_soft_limit": "-1",  # one idle worker kept per CPU
    "RAY_idle_worker_killing_time_threshold_ms": "1000",
    "RAY_prestart_worker_first_driver": "1",
}


def memory(pids: list[int]) -> dict:
    """MiB of RSS and of PSS summed over `pids`, and how many of them are idle Ray workers."""
    rss = pss = workers = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                fields = {line.split(":")[0]: int(line.split()[1]) for line in f if line.endswith("kB\n")}
            with open(f"/proc/{pid}/cmdline") as f:
                workers += f.read().startswith("ray::IDLE")
        except OSError:
            continue
        rss, pss = rss + fields["Rss"], pss + fields["Pss"]
    return {"rss_mib": round(rss / 1024), "pss_mib": round(pss / 1024), "idle_workers": workers}


def ray_processes() -> list[int]:
    return [p for p in descendants(os.getpid()) if p != os.getpid()]


def tiny_request(epochs: int = 1):
    from dae_core import TrainConfig
    from dae_core.runs import RunRequest

    cfg = TrainConfig(train_subset=400, epochs=epochs, batch_size=64, device="cpu")
    return RunRequest(cfg.to_dict(), epochs)


def measure_idle(idle_s: float) -> dict:
    from dae_core import jobs

    jobs.connect()
    started = memory(ray_processes())
    handle = jobs.submit(tiny_request())
    handle.wait(300)
    runner = RayRunner()
    norm = runner.get(runner.submit(np.linalg.norm, (np.ones(4),)))
    time.sleep(1)  # the release reaches the queue, which ends the run's worker
    after = memory(ray_processes())
    time.sleep(idle_s)
    return {"run": handle.status, "task": float(norm), "ray_started": started,
            "after_run_and_task": after, f"after_{idle_s:g}s_idle": memory(ray_processes())}


def raylet_pid() -> int:
    for pid in ray_processes():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "raylet":
                    return pid
        except OSError:
            continue
    raise RuntimeError("no raylet among this process's children")


def measure_raylet() -> dict:
    from dae_core import jobs

    doomed = jobs.submit(tiny_request(epochs=500))
    while doomed.active and doomed.status != "running":
        doomed.refresh()
        time.sleep(0.1)
    os.kill(raylet_pid(), signal.SIGKILL)
    t0 = time.monotonic()
    doomed.wait(120, poll_s=0.1)
    failed_s = time.monotonic() - t0
    after = jobs.submit(tiny_request())
    after.wait(300)
    return {"doomed": [doomed.status, doomed.message], "failed_after_s": round(failed_s, 1),
            "next_run": after.status, "next_run_trained_after_s": round(time.monotonic() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["idle", "raylet", "both"], default="both")
    parser.add_argument("--idle", type=float, default=330.0, help="seconds left idle after the run")
    parser.add_argument("--max-runs", type=int, default=8, help="DAE_MAX_RUNS (CPUs of the local Ray)")
    parser.add_argument("--ray-defaults", action="store_true", help="Ray's defaults, for comparison")
    args = parser.parse_args()
    os.environ["DAE_MAX_RUNS"] = str(args.max_runs)
    if args.ray_defaults:
        os.environ.update(RAY_DEFAULTS)
    result = {"max_runs": args.max_runs, "ray_defaults": args.ray_defaults}
    if args.mode in ("idle", "both"):
        result["idle"] = measure_idle(args.idle)
    if args.mode in ("raylet", "both"):
        result["raylet"] = measure_raylet()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
