"""The latent explorer in headless Chromium: input event -> painted frame, first frame, messages.

    python benchmarks/bench_morph.py [--moves 300] [--loads 3] [--model reference-d4]

Starts `streamlit run` with the explorer on and drives the Generate page with Playwright
(tests/e2e/harness.py): --moves mouse moves dragging slider z0 back and forth, then --moves
moves dragging across the latent pad. For every input event that reaches the explorer (slider
`input`, pad `pointermove` with the button down) a listener added after the explorer's own asks
for the next animation frame: the time from the event's timestamp to that requestAnimationFrame
callback (after the explorer's draw) is the event -> painted-frame time. Target on the 2-core
machine: p95 <= 16 ms. Also: time from navigation to the explorer's first frame (the
'dae-explorer-first-frame' performance mark; the first load includes the server encoding the
training set), the payload sent for the model, and the websocket messages the page sends during
each drag (0 expected) and after its release. Prints JSON.
"""
import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT))

from explorer_driver import HOST, pad_box, slider_box, wait_ready  # noqa: E402
from harness import choose, launch, missing, open_page, start_server, stop_server, wait_idle  # noqa: E402

# Event -> the requestAnimationFrame callback that follows the explorer's draw, per kind.
PROBE = """() => {
    window.__lat = {slider: [], pad: []};
    const frames = () => +document.querySelector('%s').daeExplorer.root.dataset.frames;
    const probe = (kind, e) => {
        const before = frames();
        requestAnimationFrame(() => window.__lat[kind].push(
            [performance.now() - e.timeStamp, frames() > before, performance.now() - e.dispatched]));
    };
    for (const type of ['input', 'pointermove'])  // before any page listener: dispatch time
        window.addEventListener(type, e => { e.dispatched = performance.now(); }, {capture: true});
    document.addEventListener('input', e => probe('slider', e));
    document.addEventListener('pointermove', e => {
        if (e.buttons & 1 && e.composedPath().some(n => n.classList && n.classList.contains('pad-canvas')))
            probe('pad', e);
    });
}""" % HOST


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summary(samples: list) -> dict:
    """From the event's timestamp (includes the browser holding pointer moves for the next frame)
    and from its dispatch to the page's handlers, to the frame after the draw."""
    ms, dispatched = [s[0] for s in samples], [s[2] for s in samples]
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(p95(ms), 2),
            "max_ms": round(max(ms), 2), "events": len(ms), "redrawn": sum(s[1] for s in samples),
            "from_dispatch_median_ms": round(statistics.median(dispatched), 2),
            "from_dispatch_p95_ms": round(p95(dispatched), 2)}


def first_frame_ms(page) -> tuple[float, float]:
    """Milliseconds from navigation start to the explorer's first drawn frame, and from its
    JavaScript starting (data parsed, decoder built) to that frame."""
    page.wait_for_function("() => performance.getEntriesByName('dae-explorer-first-frame').length")
    return page.evaluate("""() => {
        const t = name => performance.getEntriesByName(name)[0].startTime;
        return [t('dae-explorer-first-frame'), t('dae-explorer-first-frame') - t('dae-explorer-start')];
    }""")


def drag_path(page, box: dict, points, sent: list, received: list) -> dict:
    """Drag through `points` (fractions of box): websocket messages sent while dragging and after
    the release, and the bytes the server sent back for the release's rerun."""
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    wait_idle(page)
    page.mouse.move(*at[0])
    page.mouse.down()
    start = len(sent)
    for x, y in at[1:]:
        page.mouse.move(x, y)
    page.wait_for_timeout(100)  # let the last frame paint before counting (not a wait for the app)
    during = len(sent) - start
    received.clear()
    page.mouse.up()
    for _ in range(100):  # until the rerun the release started has answered (polling, 50 ms)
        if received:
            break
        page.wait_for_timeout(50)
    wait_idle(page)
    return {"ws_sent_during_drag": during, "ws_sent_after_release": len(sent) - start - during,
            "ws_bytes_received_after_release": sum(received)}


def payload_bytes(model: str) -> dict:
    """Bytes the explorer's data and code take on the wire for one checkpoint (JSON, uncompressed)."""
    from ui import cache, explorer

    path, mtime = cache.file_key(ROOT / "checkpoints" / f"{model}.pt")
    data = json.dumps(explorer.payload(path, mtime))
    weights = json.dumps(explorer.payload(path, mtime)["weights"])
    code = sum(len((explorer.ASSETS / f).read_bytes()) for f in ("explorer.js", "explorer.css"))
    return {"data": len(data), "weights": len(weights), "js_css": code}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=300, help="mouse moves per drag (slider, pad)")
    ap.add_argument("--loads", type=int, default=3, help="page loads timed for the first frame")
    ap.add_argument("--model", default="reference-d4",
                    help="shipped checkpoint to drag (the first frame is the page's default model's)")
    args = ap.parse_args()
    if missing():
        sys.exit(f"cannot run: {missing()}")
    from playwright.sync_api import sync_playwright

    out = {"model": args.model, "moves": args.moves}
    with tempfile.TemporaryDirectory() as runs:
        proc, url = start_server(runs, env={"DAE_EXPLORER": "on"})
        try:
            with sync_playwright() as pw:
                browser = launch(pw)
                loads = []
                for _ in range(args.loads):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    sent, received = [], []
                    page.on("websocket", lambda ws, s=sent: ws.on("framesent", lambda m: s.append(m)))
                    page.on("websocket", lambda ws, r=received: ws.on(
                        "framereceived", lambda m: r.append(len(m))))
                    open_page(page, url, "Generate", timeout=180_000)
                    if args.model != "reference-d4":
                        choose(page, "Model", args.model, sidebar=True)
                    wait_ready(page, args.model, 180_000)
                    loads.append(first_frame_ms(page))
                    if len(loads) < args.loads:
                        context.close()
                later = loads[1:] or loads
                out["first_frame_ms"] = {
                    "first_load": round(loads[0][0]),
                    "later_loads_median": round(statistics.median(t for t, _ in later)),
                    "explorer_js_median": round(statistics.median(t for _, t in later), 1)}
                page.evaluate(PROBE)
                n = args.moves
                slider = [(0.5 + 0.45 * math.sin(2 * math.pi * 3 * i / n), 0.5) for i in range(n + 1)]
                ws_slider = drag_path(page, slider_box(page, 0), slider, sent, received)
                pad = [(0.5 + 0.35 * math.cos(2 * math.pi * 2 * i / n),
                        0.5 + 0.35 * math.sin(2 * math.pi * 3 * i / n)) for i in range(n + 1)]
                ws_pad = drag_path(page, pad_box(page), pad, sent, received)
                lat = page.evaluate("() => window.__lat")
                out["slider"] = {**summary(lat["slider"]), **ws_slider}
                out["pad"] = {**summary(lat["pad"]), **ws_pad}
                browser.close()
        finally:
            stop_server(proc)
    out["payload_bytes"] = payload_bytes(args.model)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
