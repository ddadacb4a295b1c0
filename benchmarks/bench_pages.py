"""Each page's time to its first meaningful element and to complete, in headless Chromium, on a
fresh server and on a warm one.

    python benchmarks/bench_pages.py [--repeat 2] [--pages home,Cluster] [--json]
    python -m benchmarks.bench_pages --repeat 2 --against ../other-checkout
    python benchmarks/bench_pages.py --map 5

For each page and repeat: a fresh `streamlit run streamlit_app.py` (an empty disk cache, so only
the entries shipped in checkpoints/cache/ help, as on a new install), one visit of the page in a
new browser context (fresh), then another visit in another new context (a new session and an
empty browser cache, on the now warm server). Times are in the browser, from the request
(navigation start) to the frame on which the condition first held, checked on every frame:

- first: the page's first meaningful element (FIRST below) drawn;
- complete: the app's script idle, the page's last section shown, nothing stale, no spinner or
  skeleton, at least the page's expected number of charts and images, each chart drawn (its SVG
  layer there) and each image decoded; it must then hold for HOLD_MS, so that a rerun which
  starts right after does not count as the end.

--against DIR: another checkout of the app (a git worktree of another commit) is measured in the
same run, taking turns with this one: for each repeat and page, this checkout's fresh and warm
visits, then DIR's. A busy machine then slows both alike, and the summary gives, per page, the
ratio this checkout / DIR (after / before). Run it with `python -m` from this checkout: as a
script, Python looks for dae_harness beside the script and then in the editable install, which
may be another checkout's.

The Cluster page opens on the best clustering shipped: cluster-d10-refined, UMAP + GMM. Expected
on a 2-core machine: complete <= 4 s fresh, <= 2 s warm.

--map N: Chromium's time to draw the Cluster page's map of 48,000 codes as a density picture and
as a scatter of every point (WebGL, in software under --disable-gpu), N times each, in turns.
"""
import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import dae_harness
from dae_harness.browser import LAST, PAGES, launch, missing, start_server, stop_server

HERE = Path(__file__).resolve().parents[1]  # this checkout

QUERY = {"Cluster": "?model=cluster-d10-refined&method=umap-gmm"}
# The first thing a visitor came for, per page: a CSS selector that must match a drawn element.
FIRST = {
    "home": '[data-testid="stMain"] [data-testid="stImage"] img',
    "Train": '[data-testid="stFormSubmitButton"] button, [data-testid="stButton"] button',
    "Denoise": '[data-testid="stMain"] [data-testid="stImage"] img',
    "Generate": '[data-testid="stMain"] [data-testid="stImage"] img',
    "Cluster": '[data-testid="stMetricValue"]',
}
# The least each page draws with its default settings: Plotly charts, images, clickable pictures
# (the Cluster page's confusion matrices, ui/heatmap.py, drawn in their shadow roots).
EXPECTED = {"home": (0, 1, 0), "Train": (0, 0, 0), "Denoise": (0, 4, 0), "Generate": (0, 3, 0),
            "Cluster": (0, 2, 2)}
HOLD_MS = 1000

WATCH = """([first, last, charts, images, pictures]) => {
    const drawn = img => img.complete && img.naturalWidth > 0;
    const t = () => performance.now();
    window.__bench = {first: null, since: null};
    const check = () => {
        const b = window.__bench;
        if (b.first === null) {
            const el = document.querySelector(first);
            if (el && (el.tagName !== 'IMG' || drawn(el))) b.first = t();
        }
        const app = document.querySelector('[data-testid="stApp"]');
        const plots = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
        const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
        const svgs = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
            .filter(e => e.shadowRoot && e.shadowRoot.querySelector('.dae-heatmap svg')).length;
        const busy = document.querySelector('[data-stale="true"], [data-testid="stSpinner"], '
                                            + '[data-testid="stSkeleton"], [data-testid="stAppSkeleton"]');
        const waits = [
            [!app || app.getAttribute('data-test-script-state') !== 'notRunning', 'script running'],
            [!document.body.innerText.includes(last), 'last section'],
            [!!busy, busy && (busy.getAttribute('data-testid') || 'stale element')],
            [plots.length < charts || !plots.every(p => p.querySelector('.main-svg')), 'charts'],
            [imgs.length < images || !imgs.every(drawn), 'images'],
            [svgs < pictures, 'clickable pictures']];
        b.waiting = waits.filter(w => w[0]).map(w => w[1]).join(', ');
        b.since = b.waiting ? null : (b.since ?? t());
        b.charts = plots.length; b.images = imgs.length; b.pictures = svgs;
        requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
}"""
# The watcher, installed before any of the page's scripts run (it waits for the document).
INIT = f"""document.addEventListener('DOMContentLoaded', () => ({WATCH})(window.__benchArgs));"""


def visit(browser, url: str, name: str, timeout_s: float = 120.0) -> dict:
    """One visit of page `name` in a new browser context: seconds to first and to complete."""
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        args = [FIRST[name], LAST[name], *EXPECTED[name]]
        page.add_init_script(f"window.__benchArgs = {json.dumps(args)};\n{INIT}")
        page.goto(f"{url}/{PAGES[name]}{QUERY.get(name, '')}")
        held = f"() => window.__bench && window.__bench.since !== null && performance.now() - window.__bench.since > {HOLD_MS}"
        try:
            page.wait_for_function(held, polling=100, timeout=timeout_s * 1000)
        except PlaywrightError:
            state = page.evaluate("window.__bench") or {}
            raise SystemExit(f"{name}: not complete after {timeout_s:.0f} s, waiting for: "
                             f"{state.get('waiting', 'the page to load')}") from None
        b = page.evaluate("window.__bench")
        return {"first_s": (b["first"] or b["since"]) / 1000, "complete_s": b["since"] / 1000,
                "charts": b["charts"], "images": b["images"], "pictures": b["pictures"]}
    finally:
        context.close()


def measure(browser, root: Path, name: str) -> dict:
    """A fresh server of the checkout at `root` (its own empty runs folder and disk cache), one
    visit of page `name` (fresh), then another in a new context (warm)."""
    with tempfile.TemporaryDirectory() as runs, tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        proc, url = start_server(runs, env={"DAE_CACHE_DIR": cache}, root=root)
        started = time.perf_counter() - t
        try:
            fresh = visit(browser, url, name)
            warm = visit(browser, url, name)
        finally:
            stop_server(proc)
    return {"start_s": started, "fresh": fresh, "warm": warm}


def run(pages: list[str], repeat: int, roots: dict[str, Path]) -> dict:
    """{label: {page: [{"fresh": visit, "warm": visit, "start_s": server start}, ...]}} for each
    checkout of `roots` (label -> folder), which take turns page by page."""
    from playwright.sync_api import sync_playwright

    out = {label: {name: [] for name in pages} for label in roots}
    with sync_playwright() as pw:
        browser = launch(pw)
        for i in range(repeat):
            for name in pages:
                for label, root in roots.items():
                    row = measure(browser, root, name)
                    out[label][name].append(row)
                    fresh, warm = row["fresh"], row["warm"]
                    tag = f" {label:>6}" if len(roots) > 1 else ""
                    print(f"{name:>9}{tag} #{i + 1}: fresh first {fresh['first_s']:5.2f} s, complete "
                          f"{fresh['complete_s']:5.2f} s | warm first {warm['first_s']:5.2f} s, complete "
                          f"{warm['complete_s']:5.2f} s  ({fresh['charts']} charts, {fresh['images']} "
                          f"images, {fresh['pictures']} clickable pictures; server up in "
                          f"{row['start_s']:.1f} s)", flush=True)
        browser.close()
    return out


COLUMNS = [(w, m) for w in ("fresh", "warm") for m in ("first", "complete")]


def medians(rows: list[dict]) -> list[float]:
    """Median seconds over repeats, in COLUMNS' order."""
    return [statistics.median(r[w][f"{m}_s"] for r in rows) for w, m in COLUMNS]


def summary(out: dict) -> None:
    """Per page: each checkout's medians, and with two, the ratio of the first to the second."""
    labels = list(out)
    print("median over repeats, seconds (expected: complete <= 4 s fresh, <= 2 s warm)")
    print(f"{'':>9} {'':>14}" + "".join(f"{f'{w} {m}':>16}" for w, m in COLUMNS))
    for name in out[labels[0]]:
        meds = {label: medians(out[label][name]) for label in labels}
        for i, label in enumerate(labels):
            print(f"{name if i == 0 else '':>9} {label:>14}" + "".join(f"{v:16.2f}" for v in meds[label]))
        if len(labels) == 2:
            after, before = meds[labels[0]], meds[labels[1]]
            print(f"{'':>9} {'after / before':>14}" + "".join(f"{a / b:16.2f}" for a, b in zip(after, before)))


def _report():
    """benchmarks/report.py, beside this file, whether it runs as a script or with python -m."""
    spec = importlib.util.spec_from_file_location("report", Path(__file__).with_name("report.py"))
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    return report


def docs_table(out: dict) -> str:
    """The page table of docs/speed.md: each page's medians, and with --against, after / before."""
    report = _report()

    labels, rows = list(out), []
    for name in out[labels[0]]:
        meds = [medians(out[label][name]) for label in labels]
        rows.append([name, *(f"{v:.2f} s" for v in meds[0])])
        if len(labels) == 2:
            rows.append(["", *(f"{a / b:.2f} × before" for a, b in zip(*meds))])
    return report.table(["page", *(f"{w}: {m}" for w, m in COLUMNS)], rows)


DRAW = """async spec => {
    const div = document.createElement('div');
    div.style.width = '1200px';
    document.body.replaceChildren(div);
    const frame = () => new Promise(requestAnimationFrame);
    const t = performance.now();
    await Plotly.newPlot(div, spec.data, spec.layout);
    await frame(); await frame();  // painted
    return performance.now() - t;
}"""
SHOW = """async svg => {
    const img = new Image();
    document.body.replaceChildren(img);
    const frame = () => new Promise(requestAnimationFrame);
    const t = performance.now();
    img.src = 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(svg)));
    await img.decode();
    await frame(); await frame();  // painted
    return performance.now() - t;
}"""


def map_draw_ms(repeat: int) -> dict:
    """Milliseconds Chromium takes to draw the Cluster page's map of 48,000 codes, as the density
    picture (an SVG image, as st.image shows it) and as the Plotly scatter of every point, taking
    turns in one browser (a ratio that holds on a busy machine)."""
    import numpy as np
    import plotly
    from playwright.sync_api import sync_playwright

    from dae_core.figures import scatter_2d
    from ui.svg_cluster import density_svg

    rng = np.random.default_rng(0)
    xy, color = rng.normal(size=(48_000, 2)).astype(np.float32), rng.integers(0, 10, 48_000)
    draws = {"density": (SHOW, density_svg(xy, color, "map", "digit")),
             "scatter": (DRAW, json.loads(scatter_2d(xy, color, "map", "digit").to_json()))}
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    out = {name: [] for name in draws}
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_script_tag(path=str(plotly_js))
        for _ in range(repeat):
            for name, (script, arg) in draws.items():
                out[name].append(page.evaluate(script, arg))
        browser.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--pages", default=",".join(PAGES), help="comma-separated, of: " + ", ".join(PAGES))
    p.add_argument("--json", action="store_true")
    p.add_argument("--against", type=Path, metavar="DIR",
                   help="another checkout of the app, measured in turns with this one (after / before)")
    p.add_argument("--write-docs", action="store_true", help="write the page table into docs/speed.md")
    p.add_argument("--map", type=int, default=0, metavar="N",
                   help="instead: draw the map of 48k codes N times each way, in one browser")
    args = p.parse_args()
    if missing():
        raise SystemExit(f"cannot run: {missing()}")
    if args.map:
        for name, ms in map_draw_ms(args.map).items():
            print(f"map of 48,000 codes as the {name:<8}: median {statistics.median(ms):6.0f} ms "
                  f"({', '.join(f'{v:.0f}' for v in ms)})")
        return
    pages = [n.strip() for n in args.pages.split(",") if n.strip()]
    unknown = [n for n in pages if n not in PAGES]
    if unknown:
        raise SystemExit(f"unknown page {unknown[0]!r}: choose from {', '.join(PAGES)}")
    harness = Path(dae_harness.__file__).resolve().parents[1]
    if harness != HERE:
        raise SystemExit(f"dae_harness comes from {harness}, not this checkout ({HERE}): run "
                         f"`python -m benchmarks.bench_pages` from {HERE}")
    roots = {"after": HERE}
    if args.against:
        if not (args.against / "streamlit_app.py").is_file():
            raise SystemExit(f"--against {args.against}: no streamlit_app.py there")
        roots["before"] = args.against.resolve()
        print(f"after: {HERE}\nbefore: {roots['before']}", flush=True)
    out = run(pages, args.repeat, roots)
    if args.json:
        print(json.dumps(out if args.against else out["after"], indent=1))
        return
    summary(out)
    if args.write_docs:
        _report().write("bench_pages", docs_table(out) + "\n\n" + _report().stamp())


if __name__ == "__main__":
    main()
