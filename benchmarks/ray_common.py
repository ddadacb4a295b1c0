"""What both modes of bench_ray.py share: the browser's viewport, the progress line of a run that
trains, and where the CPU went between two snapshots (the server, the run workers, the rest of
Ray, the browsers, the whole machine).
"""
import os
import re
import time

from dae_harness.procs import descendants, pids_of, run_workers, total_cpu_seconds

TRAINING = re.compile(r"Epoch \d+/\d+ · batch|Starting the training process|Training the first batches")
VIEWPORT = {"width": 1400, "height": 1000}


def machine_busy_s() -> float:
    """CPU seconds all cores of this machine have spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server_pid: int) -> dict:
    """CPU seconds so far of: the server process, each run worker, the rest of its tree (the local
    Ray), this benchmark's other children (Chromium, Playwright's driver), and the whole machine."""
    total = total_cpu_seconds
    from dae_core.serve import ray_jobs

    ray = set(pids_of(ray_jobs.temp_dir())) | set(pids_of("^ray::"))  # the head and its workers
    workers = set(run_workers())
    browser = set(descendants(os.getpid())) - ray - workers - {os.getpid()}
    return {"t": time.perf_counter(), "server": total([server_pid]),
            "workers": {p: total([p]) for p in workers}, "ray_other": total(ray - workers),
            "browser": total(browser), "machine": machine_busy_s()}


def cores_between(a: dict, b: dict, worker_seconds: float | None = None) -> dict:
    """Cores used between two snapshots; run workers counted only when alive at both ends, unless
    `worker_seconds` (their CPU seconds, measured another way) is given."""
    dt = b["t"] - a["t"]
    shared = a["workers"].keys() & b["workers"].keys()
    if worker_seconds is None:
        worker_seconds = sum(b["workers"][p] - a["workers"][p] for p in shared)
    return with_rest({"seconds": round(dt, 1),
            "server_cores": round((b["server"] - a["server"]) / dt, 3),
            "run_worker_cores": round(worker_seconds / dt, 3),
            "run_workers": len(shared),
            "ray_other_cores": round((b["ray_other"] - a["ray_other"]) / dt, 3),
            "browser_cores": round((b["browser"] - a["browser"]) / dt, 3),
            "machine_cores": round((b["machine"] - a["machine"]) / dt, 3),
            "loadavg_1min_end": os.getloadavg()[0]})


def with_rest(cores: dict) -> dict:
    """Adds what the rest of the machine used (other users' processes: this machine is shared)."""
    ours = sum(cores[k] for k in ("server_cores", "run_worker_cores", "ray_other_cores", "browser_cores"))
    return {**cores, "rest_of_machine_cores": round(cores["machine_cores"] - ours, 3)}
