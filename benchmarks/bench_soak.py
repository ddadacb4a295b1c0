"""An hour of a class in a few minutes: many browser sessions opened and closed in turn against one
server, each visiting every page, some training and saving a run; the server's memory as it goes.

    python benchmarks/bench_soak.py [--sessions 50] [--trainers 5] [--epochs 2] [--json]

Starts `streamlit run streamlit_app.py` (runs saved in a temporary folder) and drives Debian's
headless Chromium (dae_harness/browser.py). Every sessions/trainers-th session also trains a run of
--epochs epochs on all 48k digits and saves it. Prints the server process's RSS after the first
session and after the last, the ratio of the two, and the curve in between; and the same for the
server with its children (the local Ray it starts for training: its head processes and workers).
"""
import argparse
import json
import re
import tempfile
import time

from dae_harness.browser import (PAGES, SAVED, error_texts, launch, missing, navigate, open_page, start_server, stop_server, wait_idle)
from dae_harness.procs import rss_bytes

MiB = 2**20


def train_and_save(page, name: str, epochs: int) -> None:
    """Train page: a full-data run of `epochs` epochs, waited for, then saved as `name`."""
    for label, value in (("Train subset", 0), ("Epochs", epochs)):
        page.get_by_label(label, exact=True).fill(str(value))
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"Finished: ")).first.wait_for(timeout=600_000)
    wait_idle(page)
    page.get_by_label("Checkpoint name", exact=True).fill(name)
    page.get_by_role("button", name="Save checkpoint").click()
    page.get_by_text(SAVED).first.wait_for()
    wait_idle(page)


def one_session(browser, url: str, train_as: str | None, epochs: int) -> list[str]:
    """Open a tab, visit every page (training first when asked), close it; the error boxes seen."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = []
    try:
        open_page(page, url, "home")
        for name in PAGES:
            if name == "home":
                continue
            navigate(page, name)
            if name == "Train" and train_as:
                train_and_save(page, train_as, epochs)
            errors += error_texts(page)
    finally:
        context.close()
    return errors


def own_rss(pid: int) -> int:
    """Resident memory of the process alone (not its children), from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def run(sessions: int, trainers: int, epochs: int) -> dict:
    from playwright.sync_api import sync_playwright

    every = max(1, sessions // max(trainers, 1)) if trainers else sessions + 1
    curve, tree, errors = [], [], []
    with tempfile.TemporaryDirectory() as runs, sync_playwright() as pw:
        browser = launch(pw)
        proc, url = start_server(runs)
        t0 = time.perf_counter()
        try:
            for i in range(sessions):
                train_as = f"soak-{i}" if i % every == every - 1 else None
                errors += one_session(browser, url, train_as, epochs)
                curve.append(round(own_rss(proc.pid) / MiB))
                tree.append(round(rss_bytes(proc.pid) / MiB))
        finally:
            stop_server(proc)
            browser.close()
    first, last = curve[0], curve[-1]
    return {"sessions": sessions, "trainers": len([i for i in range(sessions) if i % every == every - 1]),
            "rss_first_session_mib": first, "rss_last_session_mib": last, "rss_peak_mib": max(curve),
            "last_over_first": last / first, "rss_curve_mib": curve,
            "with_ray_first_mib": tree[0], "with_ray_last_mib": tree[-1], "with_ray_peak_mib": max(tree),
            "error_boxes": errors[:5],
            "minutes": (time.perf_counter() - t0) / 60}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=50)
    p.add_argument("--trainers", type=int, default=5, help="how many of the sessions train and save")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if missing():
        raise SystemExit(f"cannot run: {missing()}")
    r = run(args.sessions, args.trainers, args.epochs)
    if args.json:
        print(json.dumps(r))
        return
    print(f"{r['sessions']} sessions ({r['trainers']} trained {args.epochs} epochs and saved) in "
          f"{r['minutes']:.1f} min")
    print(f"server RSS after the first session {r['rss_first_session_mib']} MiB, after the last "
          f"{r['rss_last_session_mib']} MiB ({r['last_over_first']:.2f}x), peak {r['rss_peak_mib']} MiB")
    print("curve (MiB):", " ".join(map(str, r["rss_curve_mib"])))
    print(f"with its local Ray: {r['with_ray_first_mib']} MiB after the first session, "
          f"{r['with_ray_last_mib']} MiB after the last, peak {r['with_ray_peak_mib']} MiB")
    if r["error_boxes"]:
        print("error boxes:", r["error_boxes"])


if __name__ == "__main__":
    main()
