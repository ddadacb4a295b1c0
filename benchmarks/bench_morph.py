"""The latent explorer in headless Chromium: input event -> painted frame, first frame, messages.

    python benchmarks/bench_morph.py [--moves 300] [--loads 3] [--model reference-d4]

Starts `streamlit run` with the explorer on and drives the Generate page with Playwright
(dae_harness/browser.py): --moves mouse moves dragging slider z0 back and forth, then --moves
moves dragging across the latent pad, each move after a random pause of up to one frame (a hand
does not move in step with the display). Every pointer move counts (each one Chromium coalesced
into a `pointermove` too), timed from its own timestamp, when the browser received it, to the end
of the frame that shows it: a message posted from a requestAnimationFrame callback of that frame,
handled once the frame's style, layout, paint and commit are done. Split into the wait for that
frame to start (Chromium holds pointer moves for the next display frame, up to 16.7 ms at 60 Hz)
and the frame's own work. Expected on a 2-core machine: p95 <= 16 ms. Also: time from navigation
to the explorer's first frame (the 'dae-explorer-first-frame' performance mark; the first load
includes the server encoding the training set), the payload sent for the model, and the websocket
messages the page sends during each drag (0 expected) and after its release. Prints JSON.
"""
import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time

from dae_core.paths import ROOT
from dae_harness.browser import (choose, launch, missing, open_page, start_server, stop_server,
                                 wait_idle)
from dae_harness.explorer import HOST, pad_box, slider_box, wait_ready

from bench_browser import p95

# Pointer move -> the end of the next frame, per kind. In the capture phase at the window, so before
# any of the page's handlers; the slider's `input` event is not used, as its timestamp is taken when
# the held move is dispatched, after the wait for the frame.
PROBE = """() => {
    window.__lat = {slider: [], pad: []};
    const frames = () => +document.querySelector('%s').daeExplorer.root.dataset.frames;
    let seen = frames();  // frames drawn by the end of the last measured frame
    const kind = e => {
        const path = e.composedPath();
        if (path.some(n => n.classList && n.classList.contains('pad-canvas'))) return 'pad';
        if (path.some(n => n.type === 'range')) return 'slider';
    };
    window.addEventListener('pointermove', e => {
        const k = kind(e);
        if (!(e.buttons & 1) || !k) return;
        const moves = e.getCoalescedEvents().map(c => c.timeStamp);
        if (!moves.length) moves.push(e.timeStamp);
        requestAnimationFrame(frame => {
            const channel = new MessageChannel();
            channel.port1.onmessage = () => {
                // drawn: the explorer drew (before this frame or in it) since the last one
                const end = performance.now(), drawn = frames() > seen;
                seen = frames();
                for (const t of moves) window.__lat[k].push([end - t, drawn, frame - t, end - frame]);
            };
            channel.port2.postMessage(0);
        });
    }, {capture: true});
}""" % HOST


def summary(samples: list) -> dict:
    """Pointer move -> end of the frame that shows it; its two parts: the wait for that frame to
    start, and the frame's work (the page's handlers run in it, style, layout, paint, commit)."""
    ms, wait, work = ([s[i] for s in samples] for i in (0, 2, 3))
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(p95(ms), 2),
            "max_ms": round(max(ms), 2), "moves": len(ms), "redrawn": sum(s[1] for s in samples),
            "wait_for_frame_median_ms": round(statistics.median(wait), 2),
            "wait_for_frame_p95_ms": round(p95(wait), 2),
            "frame_work_median_ms": round(statistics.median(work), 2),
            "frame_work_p95_ms": round(p95(work), 2)}


def first_frame_ms(page) -> tuple[float, float]:
    """Milliseconds from navigation start to the explorer's first drawn frame, and from its
    JavaScript starting (data parsed, decoder built) to that frame."""
    page.wait_for_function("() => performance.getEntriesByName('dae-explorer-first-frame').length")
    return page.evaluate("""() => {
        const t = name => performance.getEntriesByName(name)[0].startTime;
        return [t('dae-explorer-first-frame'), t('dae-explorer-first-frame') - t('dae-explorer-start')];
    }""")


def drag_path(page, box: dict, points, sent: list, received: list, rng: random.Random) -> dict:
    """Drag through `points` (fractions of box), each move after a pause drawn uniformly from one
    60 Hz frame, so that moves land anywhere between frames: websocket messages sent while dragging
    and after the release, and the bytes the server sent back for the release's rerun."""
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    wait_idle(page)
    page.mouse.move(*at[0])
    page.mouse.down()
    start = len(sent)
    for x, y in at[1:]:
        time.sleep(rng.uniform(0, 1 / 60))
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
                rng = random.Random(0)
                n = args.moves
                slider = [(0.5 + 0.45 * math.sin(2 * math.pi * 3 * i / n), 0.5) for i in range(n + 1)]
                ws_slider = drag_path(page, slider_box(page, 0), slider, sent, received, rng)
                pad = [(0.5 + 0.35 * math.cos(2 * math.pi * 2 * i / n),
                        0.5 + 0.35 * math.sin(2 * math.pi * 3 * i / n)) for i in range(n + 1)]
                ws_pad = drag_path(page, pad_box(page), pad, sent, received, rng)
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
