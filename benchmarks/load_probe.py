"""What bench_load.py measures of the processes while its sessions run: the server's CPU and
memory, the memory and CPU of Ray's processes and the jobs' (found by name: the server does not
start them as its children), the disk cache's size, and the fits the server's log shows.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

from dae_harness import procs


class Probe:
    """The server's CPU and memory, Ray's memory and the disk cache, sampled; the fits logged."""

    def __init__(self, pid: int, cache: Path, cap_mb: int, log: Path) -> None:
        self.pid, self.cache, self.cap_mb, self.log = pid, cache, cap_mb, log
        self.cpu0 = procs.cpu_seconds(pid)
        self.peak = {"server_rss_mb": 0.0, "ray_rss_mb": 0.0, "ray_pss_mb": 0.0, "cache_mb": 0.0}
        self.ray_cpu: dict[int, float] = {}  # Ray process -> CPU seconds when last seen
        self.ray_role: dict[int, str] = {}  # Ray process -> what it is (role_of)
        self.pss_at_peak: dict[str, float] = {}  # role -> PSS (MiB) when Ray's PSS was highest

    def server_rss_mb(self) -> float:
        """The server process alone (not the Ray processes it started)."""
        with open(f"/proc/{self.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

    def ray_memory_mb(self) -> tuple[float, float, dict]:
        """(RSS, PSS) summed over Ray's processes (the local head's, its workers) and the jobs'
        (runs, analyses); notes their CPU time too. The server starts none of them as its children:
        they are found as the local head's process tree. RSS counts a shared page (PyTorch's libraries, say)
        in every process that maps it; PSS splits it between them, so its sum is the memory they
        take in all. The third item is PSS by role (MiB)."""
        rss = pss = 0
        by_role: dict[str, float] = {}
        for p in ray_processes():
            try:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    sizes = dict(line.split()[:2] for line in f if line.startswith(("Rss:", "Pss:")))
                rss, pss = rss + int(sizes["Rss:"]), pss + int(sizes["Pss:"])
                self.ray_cpu[p] = procs.cpu_seconds(p)
                # read on every sample: a Ray worker takes its title (a job's supervisor) after it starts
                role = self.ray_role[p] = role_of(p)
                by_role[role] = by_role.get(role, 0.0) + int(sizes["Pss:"]) / 1024
            except (OSError, KeyError):
                continue
        return rss / 1024, pss / 1024, by_role

    def cache_mb(self) -> float:
        files = self.cache.glob("*") if self.cache.is_dir() else []
        return sum(p.stat().st_size for p in files if p.is_file()) / 2**20

    def sample(self) -> None:
        ray_rss, ray_pss, by_role = self.ray_memory_mb()
        if ray_pss > self.peak["ray_pss_mb"]:
            self.pss_at_peak = {k: round(v) for k, v in sorted(by_role.items(), key=lambda kv: -kv[1])}
        now = {"server_rss_mb": self.server_rss_mb(), "ray_rss_mb": ray_rss, "ray_pss_mb": ray_pss,
               "cache_mb": self.cache_mb()}
        self.peak = {k: max(v, now[k]) for k, v in self.peak.items()}

    async def sample_every(self, seconds: float) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(seconds)

    def peaks(self) -> dict:
        return {"server_cpu_s": round(procs.cpu_seconds(self.pid) - self.cpu0, 1),
                "ray_cpu_s": round(sum(self.ray_cpu.values()), 1), "ray_cpu_by_role": self.cpu_by_role(),
                "ray_pss_at_peak_by_role": self.pss_at_peak,
                **{k: round(v, 1) for k, v in self.peak.items()}, "cache_cap_mb": self.cap_mb}

    def cpu_by_role(self) -> dict:
        """CPU seconds of Ray's processes and the jobs, summed by what each process is."""
        out: dict[str, float] = {}
        for p, seconds in self.ray_cpu.items():
            role = self.ray_role.get(p, "other")
            out[role] = round(out.get(role, 0.0) + seconds, 1)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def log_counts(self) -> dict:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        started = re.findall(r"analysis submitted: .* \((dae-analysis-[^)]+)\)", text)
        return {"fits_run": len(started), "fits_started_twice": len(started) - len(set(started)),
                "server_errors": len(re.findall(r" ERROR |Traceback", text))}


ROLES = (("dae_core train", "run"), ("dae_core analyse", "analysis"), ("gcs_server", "gcs"),
         ("raylet", "raylet"), ("dashboard/agent.py", "dashboard agent"), ("dashboard.py", "dashboard"),
         ("JobSupervisor", "job supervisor"), ("ray-dashboard-", "dashboard"),
         ("ray.dashboard.subprocesses", "dashboard"), ("ray::", "worker"))


def role_of(pid: int) -> str:
    """What a process of Ray's or of a job is, from its command line (ROLES; "other")."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((role for part, role in ROLES if part in cmd), "other")


def ray_processes() -> list[int]:
    """The local head's processes and every process they started: the dashboard's modules, Ray's
    workers, the jobs' supervisors and the jobs' own processes (runs, analyses)."""
    from dae_core.serve import ray_jobs

    return sorted(ray_jobs.head_processes())
