"""bench_ray.py --mode load: several sessions start runs at one moment while the others keep moving
a latent slider and going between pages; how quick those actions stay while the runs queue and
train, and whether every run queued in its place, trained in a process of its own and was saved
with its epochs.
"""
import asyncio
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from dae_harness.browser import ERROR_BOXES, SAVED, launch, start_server, stop_server
from dae_harness.procs import cpu_seconds, run_workers

from async_pages import a_move_slider, a_navigate, a_open, a_progress, a_wait_idle, states
from bench_browser import summary
from ray_common import TRAINING, VIEWPORT, cores_between, cpu_snapshot

LATENCY_BAR_S = 1.0
QUEUED = re.compile(r"Queued: (\d+)\w\w in line")
ENDED = re.compile(r"(Finished|Stopped|Failed|Diverged): ")
CYCLE = ["home", "Denoise", "Cluster", "Train"]  # where the other sessions go from Generate and back


class WorkerWatch(threading.Thread):
    """Lists the runs' training processes every half second: every PID seen, the most
    alive at once, and each one's latest CPU seconds."""

    def __init__(self, server_pid: int):
        super().__init__(daemon=True)
        self.server_pid, self.done = server_pid, threading.Event()
        self.seen: dict[int, float] = {}
        self.most = 0

    def run(self) -> None:
        while not self.done.wait(0.5):
            alive = run_workers()
            self.most = max(self.most, len(alive))
            for p in alive:
                try:
                    self.seen[p] = cpu_seconds(p)
                except OSError:
                    self.seen.setdefault(p, 0.0)


async def user(page, url: str, i: int, think: float, stop: asyncio.Event, log: list, timeout: float,
               turn: asyncio.Semaphore) -> None:
    """One of the sessions that do not train: slider moves on Generate, then another page and back,
    each action once `turn` lets it act. Appends (start time, 'slider' | 'page', seconds, or None
    for a timeout) to `log`."""
    rnd = random.Random(i)

    async def act(kind, make):
        async with turn:
            t = time.perf_counter()
            try:
                log.append((t, kind, await make()))
            except Exception as e:  # a timeout: noted, and the session starts again from Generate
                log.append((t, kind, None))
                print(f"session {i}: {kind} failed: {str(e).splitlines()[0]}", file=sys.stderr)
                await a_open(page, url, "Generate")  # when this fails too, the session ends
        await asyncio.sleep(think * rnd.uniform(0.5, 1.5))  # the user looks at the result

    n = 0
    while not stop.is_set():
        for key in ("ArrowRight", "ArrowLeft"):
            await act("slider", lambda: a_move_slider(page, key, timeout))
        destination = CYCLE[(i + n) % len(CYCLE)]
        await act(f"page:{destination}", lambda: a_navigate(page, destination, timeout))
        await act("page:Generate", lambda: a_navigate(page, "Generate", timeout))
        n += 1


async def train_and_save(page, name: str, timeout: float) -> str:
    """Wait for the page's run to finish, then save it under `name` -> its final progress line."""
    try:
        await page.get_by_text(ENDED).first.wait_for(timeout=timeout * 1000)
    except Exception as e:
        raise RuntimeError(f"run {name} did not end in {timeout:.0f} s (progress: {await a_progress(page)!r})") from e
    text = await a_progress(page)
    if not text.startswith("Finished: "):
        raise RuntimeError(f"run {name} did not finish: {(await states([page]))[0]!r}")
    await a_wait_idle(page, 60_000)
    await page.get_by_label("Checkpoint name", exact=True).fill(name)
    await page.get_by_role("button", name="Save checkpoint").click()
    await page.get_by_text(SAVED).first.wait_for(timeout=60_000)
    return text


async def queue_snapshot(pages) -> list[str]:
    """Each trainer's progress line once all of them show one (queued, starting or training)."""
    state = re.compile("|".join((QUEUED.pattern, TRAINING.pattern, ENDED.pattern)))
    try:
        await asyncio.gather(*(p.get_by_text(state).first.wait_for(timeout=180_000) for p in pages))
    except Exception as e:
        raise RuntimeError(f"not every run showed its place or progress in 180 s: {await states(pages)}") from e
    return list(await asyncio.gather(*(a_progress(p) for p in pages)))


def split_phases(log: list, t_submit: float, t_end: float) -> dict:
    """Latency summaries of the actions started before the runs were submitted and after."""
    out = {}
    for phase, keep in (("before_runs", lambda t: t < t_submit), ("while_runs", lambda t: t_submit <= t < t_end)):
        for kind in ("slider", "page"):
            seconds = [s for t, k, s in log if k.split(":")[0] == kind and keep(t)]
            done = [s for s in seconds if s is not None]
            out[f"{kind}_{phase}"] = {**({k: round(v) for k, v in summary(done).items()} if done else {"n": 0}),
                                      "timeouts": len(seconds) - len(done)}
    by_page = {}
    for t, k, s in log:
        if k.startswith("page:") and t_submit <= t < t_end and s is not None:
            by_page.setdefault(k[5:], []).append(s)
    out["page_while_runs_by_page_median_max_n"] = {
        name: [round(s["median_ms"]), round(s["max_ms"]), len(v)] for name, v in by_page.items() for s in [summary(v)]}
    return out


async def load_async(args, runs: Path, url: str, server_pid: int, out: dict) -> None:
    """Fills `out` as it goes, so that a failure still leaves what was measured before it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            pages = [await (await browser.new_context(viewport=VIEWPORT)).new_page() for _ in range(args.sessions)]
            trainers, users = pages[:args.runs], pages[args.runs:]
            await a_open(users[0], url, "home")  # first visits load the data and models: not timed
            for name in CYCLE[1:] + ["Generate"]:
                await a_navigate(users[0], name, 120_000)
            gate = asyncio.Semaphore(4)  # opening 20 pages at once only queues them on 2 cores

            async def open_one(page, name):
                async with gate:
                    await a_open(page, url, name)
            await asyncio.gather(*(open_one(p, "Train") for p in trainers),
                                 *(open_one(p, "Generate") for p in users[1:]))
            if args.warm_ray:
                await warm_ray(trainers[0], server_pid)
            for page in trainers:
                for label, value in (("Train subset", args.subset), ("Epochs", args.epochs)):
                    await page.get_by_label(label, exact=True).fill(str(value))

            stop, log = asyncio.Event(), []
            turn = asyncio.Semaphore(args.acting or len(users))
            acting = [asyncio.create_task(user(p, url, i, args.think, stop, log, args.action_timeout * 1000, turn))
                      for i, p in enumerate(users)]
            await asyncio.sleep(args.window)  # the latencies before any run
            watch = WorkerWatch(server_pid)
            watch.start()
            cpu0 = cpu_snapshot(server_pid)
            t_submit = time.perf_counter()
            await asyncio.gather(*(p.get_by_role("button", name="Start").click() for p in trainers))
            try:
                texts = await queue_snapshot(trainers)
                out["submit_to_all_shown_s"] = round(time.perf_counter() - t_submit, 1)
                out["progress_at_submit"] = texts
                queued = sorted(int(m.group(1)) for m in map(QUEUED.search, texts) if m)
                training = sum(1 for t in texts if TRAINING.search(t))
                want_training = min(args.max_runs, args.runs)
                out["queue_ok"] = training == want_training and queued == list(range(1, args.runs - want_training + 1))
                names = [f"load-{i}" for i in range(args.runs)]
                outcomes = await asyncio.gather(*(train_and_save(p, n, args.run_timeout)
                                                  for p, n in zip(trainers, names)), return_exceptions=True)
                out["final_progress"] = [o if isinstance(o, str) else f"{type(o).__name__}: {o}" for o in outcomes]
            finally:
                t_end = time.perf_counter()
                cpu1 = cpu_snapshot(server_pid)
                stop.set()
                await asyncio.gather(*acting, return_exceptions=True)
                watch.done.set()
            out["runs_took_s"] = round(t_end - t_submit, 1)
            # the workers' CPU from the watch: most of them start and end between the two snapshots
            out["cpu_while_runs"] = cores_between(cpu0, cpu1, worker_seconds=sum(watch.seen.values()))
            del out["cpu_while_runs"]["run_workers"]  # those alive at both snapshots: not this test's count
            out["run_worker_pids_seen"] = len(watch.seen)
            out["run_workers_most_at_once"] = watch.most
            out.update(split_phases(log, t_submit, t_end))
            out["error_boxes"] = [t for p in pages for t in await p.locator(ERROR_BOXES).all_inner_texts()][:5]
            out["saved"] = check_saved(runs, names, args.epochs)
        finally:
            await browser.close()


async def warm_ray(page, server_pid: int) -> None:
    """Train and finish a one-epoch run of 600 digits, so that the server's local Ray and its
    queue exist before the runs that are measured; then wait for its worker to exit."""
    for label, value in (("Train subset", 600), ("Epochs", 1)):
        await page.get_by_label(label, exact=True).fill(str(value))
    await page.get_by_role("button", name="Start").click()
    await page.get_by_text(ENDED).first.wait_for(timeout=240_000)
    text = await a_progress(page)
    if not text.startswith("Finished: "):
        raise RuntimeError(f"the warm-up run did not finish: {(await states([page]))[0]!r}")
    for _ in range(60):
        if not run_workers():
            return
        await asyncio.sleep(0.5)
    raise RuntimeError("the warm-up run's Ray worker did not exit in 30 s")


def check_saved(runs: Path, names: list[str], epochs: int) -> dict:
    """name -> epochs in the saved checkpoint's history (None when the file is missing)."""
    from dae_core.checkpoint import read_payload

    return {n: (len(read_payload(runs / f"{n}.pt")["history"]) if (runs / f"{n}.pt").is_file() else None)
            for n in names}


def run_load(args) -> dict:
    """The load test: a server with DAE_MAX_RUNS, trainers and users in one Chromium."""
    with tempfile.TemporaryDirectory() as base:
        runs = Path(base) / "runs"
        runs.mkdir()
        proc, url = start_server(runs, log=Path(base) / "server.log",
                                 env={"DAE_MAX_RUNS": str(args.max_runs), "DAE_EXPLORER": "off"})
        out = {}
        try:
            asyncio.run(load_async(args, runs, url, proc.pid, out))
        except Exception as e:  # reported with what was measured before it
            out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            stop_server(proc)
            tracebacks = (Path(base) / "server.log").read_text(errors="replace").count("Traceback")
    out["server_tracebacks"] = tracebacks
    out["settings"] = {k: getattr(args, k) for k in ("sessions", "runs", "epochs", "subset", "max_runs",
                                                      "think", "window", "warm_ray", "acting")}
    saved = out.get("saved", {})
    out["all_saved_with_their_epochs"] = len(saved) == args.runs and all(v == args.epochs for v in saved.values())
    out["one_worker_per_run"] = out.get("run_worker_pids_seen") == args.runs
    during = [out.get(f"{k}_while_runs", {}) for k in ("slider", "page")]
    worst = max(d.get("p95_ms", float("inf")) for d in during)
    out["expected"] = f"slider and page p95 < {LATENCY_BAR_S * 1000:.0f} ms while runs queue and train"
    out["as_expected"] = worst < LATENCY_BAR_S * 1000 and sum(d.get("timeouts", 1) for d in during) == 0
    return out
