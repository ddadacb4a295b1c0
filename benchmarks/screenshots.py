"""Refresh docs/screenshots/*.png: each page of the real app in headless Chromium, 1400 px wide.

    python benchmarks/screenshots.py [--out docs/screenshots] [--height 1000]

Uses the browser tests' harness (dae_harness/browser.py): a `streamlit run` server with runs saved
in a temporary folder, Debian's Chromium, waits on conditions only. The Train shot trains a tiny
run first (about 10 s) so that its loss chart and preview have something to show.
"""
import argparse
import tempfile
import time
from pathlib import Path

from dae_core.paths import ROOT
from dae_harness.browser import (launch, missing, open_page, start_server, start_tiny_run,
                                 stop_server, wait_idle)

IMAGES_READY = """() =>
    [...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)
    && [...document.querySelectorAll('.js-plotly-plot')].every(g => g.querySelector('.main-svg'))"""


def scroll_to(page, text: str) -> None:
    """Put the first element showing `text` at the top of the app's scrolling area."""
    page.get_by_text(text, exact=True).first.evaluate("e => e.scrollIntoView({block: 'start'})")


def shoot(page, path: Path) -> None:
    wait_idle(page)
    page.wait_for_function(IMAGES_READY)
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    p.add_argument("--height", type=int, default=1000)
    args = p.parse_args()
    if missing():
        raise SystemExit(f"cannot take screenshots: {missing()}")
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs, sync_playwright() as pw:
        proc, url = start_server(runs, args=("--client.toolbarMode", "minimal"))
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": args.height})
            for name in ("home", "Denoise", "Cluster"):
                open_page(page, url, name)
                shoot(page, args.out / f"{name.lower()}.png")
            open_page(page, url, "Generate")
            scroll_to(page, "Latent sliders")
            shoot(page, args.out / "generate.png")
            open_page(page, url, "Train")
            start_tiny_run(page, subset=3000, epochs=6, batch=64)
            page.get_by_text("Finished: ").first.wait_for(timeout=120_000)
            page.get_by_text("Save or continue this run").wait_for()
            scroll_to(page, "Start")
            shoot(page, args.out / "train.png")
        finally:
            browser.close()
            stop_server(proc)
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
