"""The app in a real browser: start-up, first visit of each page, latent slider -> redrawn
preview and Cluster cell -> its images (each alone and while another session trains), server
memory, and what a closed tab costs.

    python benchmarks/bench_browser.py [--moves 30] [--starts 5] [--json] [--option KEY=VALUE]
                                       [--env NAME=VALUE]

Starts `streamlit run streamlit_app.py` (runs saved in a temporary folder) and drives Debian's
headless Chromium with Playwright (dae_harness/browser.py). Expected on a 2-core machine: slider
median <= 250 ms, `streamlit run` -> home page interactive <= 6 s, server RSS <= 1 GB with MNIST
and the shipped models loaded after visiting every page. Start-up is the median of --starts cold
starts (a fresh server each time): on two shared cores one start varies by a second or more.
"""
import argparse
import json
import math
import statistics
import tempfile
import time

from dae_harness.browser import (LAST, PAGES, choose, launch, missing, move_slider, navigate, open_page, pick_cell_digit, picker_options, start_server, start_tiny_run, stop_server, wait_idle)
from dae_harness.procs import cpu_seconds, rss_bytes

MiB = 2**20


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def slider_moves(page, n: int) -> list[float]:
    """n presses on z0, first to the right then back: seconds from key press to new preview."""
    return [move_slider(page, "z0", "ArrowRight" if i < n // 2 else "ArrowLeft") for i in range(n)]


def cell_picks(page, digits: list[int]) -> list[float]:
    """Pick each digit in turn in the Cluster page's cell view: seconds until its images show."""
    return [pick_cell_digit(page, d) for d in digits]


def summary(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"median_ms": statistics.median(ms), "p95_ms": p95(ms), "min_ms": min(ms),
            "max_ms": max(ms), "n": len(ms)}


def server_args(options: list[str]) -> list[str]:
    """["KEY=VALUE", ...] -> ["--KEY", "VALUE", ...] for `streamlit run`."""
    return [a for o in options for a in (f"--{o.split('=', 1)[0]}", o.split("=", 1)[1])]


def cold_starts(n: int, env: dict, args: list[str]) -> list[float]:
    """Seconds from `streamlit run` to an interactive home page, for n fresh servers."""
    from playwright.sync_api import sync_playwright

    seconds = []
    with sync_playwright() as pw:
        browser = launch(pw)  # before the clock starts: we time the server, not Chromium
        for _ in range(n):
            with tempfile.TemporaryDirectory() as runs:
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                t0 = time.perf_counter()
                proc, url = start_server(runs, env=env, args=args)
                try:
                    open_page(page, url, "home")
                    seconds.append(time.perf_counter() - t0)
                finally:
                    stop_server(proc)
                    page.context.close()
        browser.close()
    return seconds


def run(moves: int, env: dict, options: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with tempfile.TemporaryDirectory() as runs, sync_playwright() as pw:
        browser = launch(pw)  # before the clock starts: we time the server, not Chromium
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        t0 = time.perf_counter()
        proc, url = start_server(runs, env=env, args=server_args(options))
        out["health_s"] = time.perf_counter() - t0
        try:
            open_page(page, url, "home")
            out["home_interactive_s"] = time.perf_counter() - t0
            out["first_visit_s"] = {}
            for name in PAGES:
                if name == "home":
                    continue
                t = time.perf_counter()
                navigate(page, name)
                out["first_visit_s"][name] = time.perf_counter() - t
            out["rss_after_pages_mib"] = rss_bytes(proc.pid) / MiB
            for name in picker_options(page):  # load every shipped model once
                choose(page, "Model", name, sidebar=True)
                wait_idle(page)
            choose(page, "Model", "reference-d4", sidebar=True)
            wait_idle(page)
            out["models_loaded"] = len(picker_options(page))
            out["rss_after_models_mib"] = rss_bytes(proc.pid) / MiB

            navigate(page, "Generate")
            move_slider(page, "z0")  # warm-up: the first rerun of the fragment
            out["slider"] = summary(slider_moves(page, moves))
            cells = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_page(cells, url, "Cluster")
            digits = [(i + 1) % 10 for i in range(2 * moves)]  # never the digit already shown
            out["cell"] = summary(cell_picks(cells, digits[:moves]))

            trainer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_page(trainer, url, "Train")
            start_tiny_run(trainer, subset=3000, epochs=500)
            out["slider_while_training"] = summary(slider_moves(page, moves))
            out["cell_while_training"] = summary(cell_picks(cells, digits[moves:]))
            out["rss_while_training_mib"] = rss_bytes(proc.pid) / MiB

            # A tab closed mid-run: does the server go on training for nobody?
            trainer.context.close()
            cpu, t = cpu_seconds(proc.pid), time.perf_counter()
            page.wait_for_timeout(5000)  # a measurement window, not a wait for the app
            busy = cpu_seconds(proc.pid) - cpu
            out["cpu_share_after_tab_closed"] = busy / (time.perf_counter() - t)
            out["last_page_text_ok"] = page.get_by_text(LAST["Generate"], exact=True).is_visible()
        finally:
            stop_server(proc)
            browser.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moves", type=int, default=30)
    p.add_argument("--starts", type=int, default=5, help="cold starts timed (median reported)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable for the server, e.g. MALLOC_ARENA_MAX=2")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a streamlit option for the server, e.g. runner.postScriptGC=true")
    args = p.parse_args()
    if missing():
        raise SystemExit(f"cannot run: {missing()}")
    env = dict(e.split("=", 1) for e in args.env)
    r = run(args.moves, env, args.option)
    if args.starts > 0:
        r["home_interactive_starts_s"] = cold_starts(args.starts, env, server_args(args.option))
        r["home_interactive_median_s"] = statistics.median(r["home_interactive_starts_s"])
    if args.json:
        print(json.dumps(r, indent=1))
        return
    s, st = r["slider"], r["slider_while_training"]
    print(f"streamlit run -> /_stcore/health      {r['health_s']:6.2f} s")
    print(f"streamlit run -> home interactive     {r['home_interactive_s']:6.2f} s")
    if "home_interactive_median_s" in r:
        starts = ", ".join(f"{s:.2f}" for s in r["home_interactive_starts_s"])
        print(f"  ... median of {len(r['home_interactive_starts_s'])} cold starts        "
              f"{r['home_interactive_median_s']:6.2f} s   (expected <= 6 s; {starts})")
    for name, seconds in r["first_visit_s"].items():
        print(f"first visit of {name:<22} {seconds:6.2f} s")
    print(f"slider -> preview, {s['n']} moves           median {s['median_ms']:4.0f} ms  p95 "
          f"{s['p95_ms']:4.0f} ms  (min {s['min_ms']:.0f}, max {s['max_ms']:.0f};"
          " expected median <= 250)")
    print(f"  ... while another session trains    median {st['median_ms']:4.0f} ms  p95 "
          f"{st['p95_ms']:4.0f} ms  (min {st['min_ms']:.0f}, max {st['max_ms']:.0f})")
    c, ct = r["cell"], r["cell_while_training"]
    print(f"cluster cell -> images, {c['n']} picks     median {c['median_ms']:4.0f} ms  p95 "
          f"{c['p95_ms']:4.0f} ms  (min {c['min_ms']:.0f}, max {c['max_ms']:.0f})")
    print(f"  ... while another session trains    median {ct['median_ms']:4.0f} ms  p95 "
          f"{ct['p95_ms']:4.0f} ms  (min {ct['min_ms']:.0f}, max {ct['max_ms']:.0f})")
    print(f"server RSS after every page           {r['rss_after_pages_mib']:6.0f} MiB")
    print(f"  ... and all {r['models_loaded']} shipped models loaded  "
          f"{r['rss_after_models_mib']:6.0f} MiB   (expected <= 1024)")
    print(f"  ... while a session trains          {r['rss_while_training_mib']:6.0f} MiB")
    busy = r["cpu_share_after_tab_closed"]
    print(f"server CPU in the 5 s after the training tab closed: {busy:.2f} cores busy "
          f"({'the orphaned run goes on training' if busy > 0.5 else 'the run stopped'})")
    if env or args.option:
        print(f"(server env: {env}; options: {args.option})")


if __name__ == "__main__":
    main()
