"""Training in Ray, seen from the app: what the server itself spends while a run trains, and how
quick the pages stay while several sessions train and the rest keep using the app.

    .venv/bin/python benchmarks/bench_ray.py [--mode cpu|load|both] [--window 15]
        [--sessions 20] [--runs 4] [--epochs 3] [--subset 2500] [--think 1.0] [--acting N]

cpu:  a fresh server, one tab on the Train page, the Quick recipe training (a run of --cpu-epochs
      epochs, stopped once measured). Over --window seconds: CPU cores used by the Streamlit
      server process alone (the live view's once-a-second redraw included) and by the Ray
      worker holding the run; then the same with that tab on the home page (no live view), which
      isolates what watching a run costs. Expected: server < 0.3 core.
load: a fresh server with DAE_MAX_RUNS=2 and the server-side latent sliders (DAE_EXPLORER=off),
      --sessions browser sessions (each its own context of one Chromium). --runs of them start
      a run of --epochs epochs on --subset digits at the same moment; the others move a latent
      slider on Generate and go between pages, each action timed from the input to the new
      content. Checks: just after the runs are submitted exactly DAE_MAX_RUNS train and the rest
      show their place in the queue; every run finishes, is saved, and its checkpoint holds
      exactly --epochs epochs; each run had its own training process (distinct `dae_core train`
      processes = --runs). Expected: page and slider p95 < 1 s while the runs queue and train.
      The runs are the server's first unless --warm-ray, which first trains a one-epoch run so
      that Ray and its queue already run (a server that has trained before).
      All the browsers share this machine with the server, and a Chromium tab drawing a page
      costs more CPU than the server spends on it: 16 sessions acting at once saturate 2 cores
      with rendering alone, runs or not. --acting 1 lets the sessions act in turn (all 20 stay
      open and connected, the runs train throughout), which stands for a class whose browsers
      each have a machine of their own; `cpu_while_runs` shows where the cores went.

Prints one JSON object. Everything (server, Ray, Chromium) shares this machine's cores, so on a
2-core machine the latencies include the browsers' own rendering; numbers vary from run to run.
"""
import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from dae_harness.browser import (ERROR_BOXES, SAVED, cpu_seconds, launch, missing, navigate, open_page,
                                 run_workers, start_server, stop_server)

from async_pages import a_move_slider, a_navigate, a_open, a_progress, a_wait_idle, states
from bench_browser import summary
from ray_common import TRAINING, VIEWPORT, cores_between, cpu_snapshot

SERVER_BAR_CORES = 0.3
LATENCY_BAR_S = 1.0
QUEUED = re.compile(r"Queued: (\d+)\w\w in line")
ENDED = re.compile(r"(Finished|Stopped|Failed|Diverged): ")
CYCLE = ["home", "Denoise", "Cluster", "Train"]  # where the other sessions go from Generate and back


def progress_text(page) -> str:
    """The Train page's progress line (queue place, epoch and batch, or the outcome)."""
    return page.locator('[data-testid="stProgress"]').first.inner_text().strip()


def measure(page, server_pid: int, seconds: float) -> dict:
    """Cores used over `seconds` while the page stays open (Playwright keeps serving it)."""
    a = cpu_snapshot(server_pid)
    page.wait_for_timeout(seconds * 1000)  # the measurement window, not a wait for the app
    return cores_between(a, cpu_snapshot(server_pid))


def run_cpu(window: float, epochs: int) -> dict:
    """The server's CPU while one tab watches a run train, and while that tab is elsewhere."""
    from playwright.sync_api import sync_playwright

    out = {"window_s": window, "recipe": f"Quick, all training digits, {epochs} epochs (stopped after)"}
    with tempfile.TemporaryDirectory() as runs, sync_playwright() as pw:
        browser = launch(pw)
        proc, url = start_server(runs, log=Path(runs) / "server.log")
        try:
            watch_and_measure(browser, url, proc.pid, window, epochs, out)
        except Exception as e:  # reported with what was measured before it
            out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            stop_server(proc)
            browser.close()
            out["server_tracebacks"] = (Path(runs) / "server.log").read_text(errors="replace").count("Traceback")
    if "training_tab_on_home" in out:
        server = out["training_train_tab_open"]["server_cores"]
        out["watching_costs_cores"] = round(server - out["training_tab_on_home"]["server_cores"], 3)
        out["expected"] = f"server < {SERVER_BAR_CORES} core while a tab watches a run"
        out["as_expected"] = server < SERVER_BAR_CORES
    return out


def watch_and_measure(browser, url: str, server_pid: int, window: float, epochs: int, out: dict) -> None:
    """One tab: Train page without a run, then watching the run train, then on the home page."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    open_page(page, url, "Train")
    out["no_run_train_tab_open"] = measure(page, server_pid, window)
    page.get_by_label("Epochs", exact=True).fill(str(epochs))
    page.get_by_role("button", name="Start").click()
    try:  # the first run of a server starts its local Ray first
        page.get_by_text(re.compile(r"After epoch 1:")).first.wait_for(timeout=240_000)
    except Exception as e:
        raise RuntimeError(f"the run did not finish its first epoch in 240 s (progress: "
                           f"{progress_text(page)!r})") from e
    out["training_train_tab_open"] = measure(page, server_pid, window)
    navigate(page, "home")
    out["training_tab_on_home"] = measure(page, server_pid, window)
    navigate(page, "Train")
    text = progress_text(page)
    if not TRAINING.search(text):
        raise RuntimeError(f"the run ended before the windows did ({text!r}): raise --cpu-epochs")
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped:").first.wait_for(timeout=60_000)


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("cpu", "load", "both"), default="both")
    p.add_argument("--window", type=float, default=15.0,
                   help="seconds of each CPU window (cpu), of actions before the runs start (load)")
    p.add_argument("--cpu-epochs", type=int, default=30,
                   help="cpu: epochs of the Quick run (it is stopped once measured)")
    p.add_argument("--sessions", type=int, default=20, help="load: browser sessions in all")
    p.add_argument("--runs", type=int, default=4, help="load: how many of them start a run")
    p.add_argument("--max-runs", type=int, default=2, help="load: DAE_MAX_RUNS of the server")
    p.add_argument("--epochs", type=int, default=3, help="load: epochs of each run")
    p.add_argument("--subset", type=int, default=2500, help="load: training digits of each run")
    p.add_argument("--think", type=float, default=1.0,
                   help="load: mean seconds a session waits between actions (0.5x-1.5x)")
    p.add_argument("--acting", type=int, default=0,
                   help="load: how many of the other sessions act at the same moment (default all); "
                        "1 takes turns, as if each browser had a machine of its own")
    p.add_argument("--warm-ray", action="store_true",
                   help="load: finish a tiny run first, so that Ray and its queue already run when the runs start")
    p.add_argument("--action-timeout", type=float, default=30.0, help="load: seconds before an action counts as failed")
    p.add_argument("--run-timeout", type=float, default=900.0, help="load: seconds for all runs to finish")
    args = p.parse_args()
    if missing():
        raise SystemExit(f"cannot run: {missing()}")
    if not 0 < args.runs < args.sessions:
        raise SystemExit("--runs must be at least 1 and fewer than --sessions")
    result = {}
    if args.mode in ("cpu", "both"):
        result["cpu"] = run_cpu(args.window, args.cpu_epochs)
    if args.mode in ("load", "both"):
        result["load"] = run_load(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
