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
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from dae_core import checkpoint, store
from dae_core.analysis.cluster import METHODS
from dae_core.analysis.latent import SAMPLERS
from dae_core.paths import ROOT
from dae_core.settings import settings
from dae_harness import browser
from dae_harness.wsclient import Tab, query
from ui.words import METHODS as METHOD_WORDS
from ui.words import NOISES
from ui.words import SAMPLERS as SAMPLER_WORDS

MODELS = sorted(p.stem for p in (ROOT / "checkpoints").glob("*.pt"))
PAGES = ("Train", "Denoise", "Generate", "Cluster")  # after Home, in a random order
UPLOAD_NAME = "class-model.pt"  # a shipped model's bytes under another name
UMAP_MODEL = "cluster-d10-refined"  # the fit ten sessions ask at once (its seed: unshipped)
UMAP = {"method": "umap-gmm", "k": 10}


def page_settings(page: str, rng: random.Random, umap_share: float) -> dict:
    """Random URL settings of a page, from small ranges, so that sessions meet on some."""
    if page == "Cluster":
        umap = rng.random() < umap_share
        method = rng.choice([m for m in METHODS if m.startswith("umap") == umap])
        return {"k": rng.randint(8, 12), "method": method, "cluster_seed": rng.randint(0, 3)}
    if page == "Generate":
        sampler = rng.choice(SAMPLERS)
        return {"sampler": sampler, "component": rng.randint(0, 9) if sampler == "cluster:K" else None,
                "sample_seed": rng.randint(0, 50)}
    if page == "Denoise":
        noise = rng.choice(("gaussian", "salt_pepper", "mask"))
        return {"noise": noise, "strength": rng.choice((0.1, 0.2, 0.3, 0.5)),
                "noise_seed": rng.randint(0, 3)}
    return {}


def widget_change(page: str, rng: random.Random) -> tuple[str, object] | None:
    """(key, value) of one widget change a visitor makes on `page`."""
    return {"": ("home_seed", rng.randint(0, 500)), "Train": ("train_log_y", rng.random() < 0.5),
            "Denoise": ("noise_seed", rng.randint(0, 3)),
            "Generate": ("sample_seed", rng.randint(0, 50)),
            "Cluster": ("k", rng.randint(8, 12))}[page]


SHOWN = {"Cluster": ("k", "method", "cluster_seed"), "Generate": ("sampler", "component"),
         "Denoise": ("noise", "noise_seed")}  # the settings that choose a page's fits
# A choice shown in words holds its words in the browser: back to the name a fit is keyed by.
NAMES = {key: {said: name for name, said in words.items()}
         for key, words in {"method": METHOD_WORDS, "sampler": SAMPLER_WORDS, "noise": NOISES}.items()}


def asked(tab: Tab, page: str, uploaded: dict) -> set:
    """What the page just drawn asked that may need a fit (kept in memory or on disk after),
    from the values its widgets show; an uploaded model counts as the shipped one it copies."""
    if page not in SHOWN or "model" not in tab.widgets:
        return set()
    model = uploaded.get(tab.value("model"), tab.value("model"))
    s = {key: NAMES.get(key, {}).get(tab.value(key), tab.value(key)) for key in SHOWN[page]
         if key in tab.widgets}
    if page == "Cluster":
        return {("clustering", model, s.get("method"), s.get("k"), s.get("cluster_seed"))}
    if page == "Generate":
        sampler = s.get("sampler")
        return {("sampler", model, f"cluster:{s.get('component')}" if sampler == "cluster:K" else sampler)}
    return {("noise_sweep", model, s.get("noise"), s.get("noise_seed"))}


class Record:
    """Every measured run, and the fits asked so far. A run is a fit when it asked a fit that was
    new, or that another session had asked and was still computing when this run started (it
    waits on that fit): only runs that found every fit they asked done count as page runs."""

    def __init__(self, shipped: set) -> None:
        self.done_at = dict.fromkeys(shipped, -math.inf)  # fit -> when its first asker's run ended
        self.runs: list[tuple[str, float, str]] = []  # (page / widget / fit / distinct, s, status)
        self.where: list[str] = []  # each run's page and what it did, for the slowest list
        self.waits: dict[str, list] = {"umap": [], "train": []}  # seconds, None past the limit
        self.errors: list[str] = []
        self.uploaded: dict[str, str] = {}  # an uploaded model's name -> the shipped one it copies

    def add(self, kind: str, run, fits: set = frozenset(), what: str = "") -> None:
        now = time.perf_counter()
        started = now - run.seconds
        pending = any(self.done_at.get(f, math.inf) > started for f in fits)
        for f in fits:
            self.done_at.setdefault(f, now)
        self.runs.append(("fit" if pending and kind != "distinct" else kind, run.seconds, run.status))
        self.where.append(what)


async def pause(rng, think: float) -> None:
    """A reader's pause before the next action: uniformly 0.5-1.5 x `think` seconds (0: none)."""
    if think > 0:
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


async def visit(tab: Tab, rec: Record, page: str, link: str, rng, changes: int, think: float = 0.0) -> None:
    """Open `page` by the link `link` (the first page) or the menu, then change `changes` widgets,
    pausing `think` seconds (on average) before each action."""
    await pause(rng, think)
    run = await (tab.goto(page, link) if tab.pages else tab.open(page, link))
    rec.add("page", run, asked(tab, page, rec.uploaded), f"{page or 'home'} {link}")
    for _ in range(changes):
        key, value = widget_change(page, rng)
        if key in tab.widgets:
            await pause(rng, think)
            rec.add("widget", await tab.set(key, value), asked(tab, page, rec.uploaded),
                    f"{page or 'home'} {key}={value}")


async def session(i: int, role: str, url: str, rec: Record, args, umap_seed: int) -> None:
    """One visitor: every page once, in a random order (a UMAP asker first opens the link to the
    UMAP clustering and waits for it; a trainer starts a short run and waits for its end)."""
    rng = random.Random(args.seed * 1000 + i)
    await asyncio.sleep(rng.uniform(0, args.stagger))  # a class does not click at one instant
    tab, model = Tab(url, timeout=args.run_timeout), rng.choice(MODELS)
    pages = rng.sample(("",) + PAGES, len(PAGES) + 1)
    if role == "umap":
        pages.remove("Cluster")
        pages.insert(0, "Cluster")
    upload = role == "upload"
    try:
        for page in pages:
            s = page_settings(page, rng, args.umap_share)
            if role == "umap" and page == "Cluster":
                await visit(tab, rec, page, query(model=UMAP_MODEL, **UMAP, cluster_seed=umap_seed),
                            rng, 0)
                rec.waits["umap"].append(await tab.settle(args.fit_timeout))
                continue
            await visit(tab, rec, page, query(model=model, **s), rng, args.changes, args.think)
            if upload:  # once, on the first page: the picker then shows the uploaded model
                data = (ROOT / "checkpoints" / f"{model}.pt").read_bytes()
                rec.add("widget", await tab.upload("checkpoint_upload", UPLOAD_NAME, data))
                rec.uploaded[tab.value("model")], upload = model, False
            if role == "train" and page == "Train":
                rec.add("widget", await tab.click("train_start", train_epochs=args.train_epochs,
                                                  train_train_subset=args.train_subset))
                waited = await tab.settle(args.fit_timeout)
                ended = any(t.startswith("Finished:") for t in tab.texts())
                rec.waits["train"].append(waited if ended else None)
                if not ended:
                    rec.errors.append(f"session {i}: the training run did not finish: "
                                      + " | ".join(t[:120] for t in tab.texts()[-4:]))
    except Exception as e:  # noqa: BLE001  one session's failure is counted, the class goes on
        rec.errors.append(f"session {i} ({role}): {type(e).__name__}: {e}")
    finally:
        await tab.close()


async def walk(url: str, rec: Record, probe: Probe, n: int, args) -> dict:
    """One session through n distinct (k, seed) k-means clusterings, each waited for until its
    scores show: the server's memory and the disk cache as it goes."""
    tab = Tab(url, timeout=args.run_timeout)
    rss, waits = [], []
    try:
        await tab.open("Cluster", query(model="reference-d4", method="kmeans"))
        for j in range(n):
            rec.add("distinct", await tab.set("k", 2 + j % 29, cluster_seed=1000 + j // 29))
            waits.append(await tab.settle(args.fit_timeout))
            probe.sample()
            rss.append(probe.server_rss_mb())
    except Exception as e:  # noqa: BLE001
        rec.errors.append(f"distinct walk: {type(e).__name__}: {e}")
    finally:
        await tab.close()
    quarter = max(1, len(rss) // 4)
    done = [w for w in waits if w is not None]
    return {"settings": len(rss), "result_p50_s": quantile(done, 0.5),
            "results_past_limit": len(waits) - len(done),
            "rss_first_quarter_mb": round(max(rss[:quarter], default=0), 1),
            "rss_last_quarter_mb": round(max(rss[-quarter:], default=0), 1),
            "rss_max_mb": round(max(rss, default=0), 1), "cache_mb": round(probe.cache_mb(), 1)}


def shipped_clusterings(names) -> set:
    """The clusterings the shipped cache holds, as fits_of keys."""
    prints = {}
    for name in names:
        ck = checkpoint.load(ROOT / "checkpoints" / f"{name}.pt", device="cpu")
        prints[store.fingerprint(ck.model, ck.config)] = name
    found = set()
    for path in store.SHIPPED_DIR.glob("clustering-*.npz"):
        with np.load(path, allow_pickle=False) as f:
            key = json.loads(str(f["key"]))
        if key.get("model") in prints:
            found.add(("clustering", prints[key["model"]], key["method"], key["k"], key["seed"]))
    return found


class Probe:
    """The server's CPU and memory, Ray's memory and the disk cache, sampled; the fits logged."""

    def __init__(self, pid: int, cache: Path, cap_mb: int, log: Path) -> None:
        self.pid, self.cache, self.cap_mb, self.log = pid, cache, cap_mb, log
        self.cpu0 = browser.cpu_seconds(pid)
        self.peak = {"server_rss_mb": 0.0, "ray_rss_mb": 0.0, "ray_pss_mb": 0.0, "cache_mb": 0.0}
        self.ray_cpu: dict[int, float] = {}  # Ray process -> CPU seconds when last seen

    def server_rss_mb(self) -> float:
        """The server process alone (not the Ray processes it started)."""
        with open(f"/proc/{self.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

    def ray_memory_mb(self) -> tuple[float, float]:
        """(RSS, PSS) summed over Ray's processes (the local head's, its workers) and the jobs'
        (runs, analyses); notes their CPU time too. The server starts none of them as its children:
        they are found by name. RSS counts a shared page (PyTorch's libraries, say)
        in every process that maps it; PSS splits it between them, so its sum is the memory they
        take in all."""
        rss = pss = 0
        for p in ray_processes():
            try:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    sizes = dict(line.split()[:2] for line in f if line.startswith(("Rss:", "Pss:")))
                rss, pss = rss + int(sizes["Rss:"]), pss + int(sizes["Pss:"])
                self.ray_cpu[p] = browser.cpu_seconds(p)
            except (OSError, KeyError):
                continue
        return rss / 1024, pss / 1024

    def cache_mb(self) -> float:
        files = self.cache.glob("*") if self.cache.is_dir() else []
        return sum(p.stat().st_size for p in files if p.is_file()) / 2**20

    def sample(self) -> None:
        ray_rss, ray_pss = self.ray_memory_mb()
        now = {"server_rss_mb": self.server_rss_mb(), "ray_rss_mb": ray_rss, "ray_pss_mb": ray_pss,
               "cache_mb": self.cache_mb()}
        self.peak = {k: max(v, now[k]) for k, v in self.peak.items()}

    async def sample_every(self, seconds: float) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(seconds)

    def peaks(self) -> dict:
        return {"server_cpu_s": round(browser.cpu_seconds(self.pid) - self.cpu0, 1),
                "ray_cpu_s": round(sum(self.ray_cpu.values()), 1),
                **{k: round(v, 1) for k, v in self.peak.items()}, "cache_cap_mb": self.cap_mb}

    def log_counts(self) -> dict:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        started = re.findall(r"analysis submitted: .* \((dae-analysis-[^)]+)\)", text)
        return {"fits_run": len(started), "fits_started_twice": len(started) - len(set(started)),
                "server_errors": len(re.findall(r" ERROR |Traceback", text))}


def ray_processes() -> list[int]:
    """The local head's processes, Ray's workers and our jobs' processes, by their command lines."""
    from dae_core.serve import ray_jobs

    found = set()
    for pattern in (ray_jobs.temp_dir(), "^ray::", "dae_core (train --run-dir|analyse)"):
        out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
        found.update(int(p) for p in out.split())
    return sorted(found)


def roles(n: int) -> list[str]:
    """4 trainers and 10 UMAP askers in 30, in proportion (at least one each) for fewer."""
    trainers = 4 if n >= 30 else max(1, n * 4 // 30)
    umap = 10 if n >= 30 else max(1, n * 10 // 30)
    rest = ["upload"] + ["browse"] * n
    return (["train"] * trainers + ["umap"] * umap + rest)[:n]


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile by the nearest-rank method (None for no values)."""
    values = sorted(values)
    return round(values[max(0, math.ceil(q * len(values)) - 1)], 3) if values else None


def summary(rec: Record, probe: Probe, n: int, walk_out: dict, wall: float) -> dict:
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
    args = p.parse_args()
    out = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(out))
        return
    for key, value in out.items():
        print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
