"""Drive the Generate page's latent explorer in Chromium: find it, read it, drag its sliders and pad.

Shared by tests/e2e/test_explorer.py and benchmarks/bench_morph.py. The explorer lives in a
shadow root; Playwright's CSS locators pierce it, and page.evaluate reaches it through its host.
"""
from __future__ import annotations

HOST = '[data-testid="stBidiComponentIsolated"]'
_APP = f"document.querySelector('{HOST}')?.daeExplorer"


def wait_ready(page, model: str, timeout: float = 60_000) -> None:
    """Until the explorer has drawn a frame of checkpoint `model` (e.g. "reference-d4")."""
    page.wait_for_function(
        f"name => {{ const a = {_APP}; return !!a && a.drawn && a.model.startsWith(name + '.pt@'); }}",
        arg=model, timeout=timeout)


def state(page) -> dict:
    """The explorer's code, its d, the pad's map ("pca" or "umap") and scatter (a PNG data URL), the
    pad marker's position and the code's projection (both as fractions of the pad), frames drawn,
    and the values the slider inputs show (null where a split model's digit buttons stand for the
    class coordinates)."""
    return page.evaluate(f"""() => {{ const a = {_APP};
        return {{ code: a.code(), d: a.d, model: a.model, frames: +a.root.dataset.frames,
                  projection: a.projection, scatter: a.pad.toDataURL(),
                  pad: [+a.pad.dataset.x, +a.pad.dataset.y], project: a.project(a.z),
                  projected: a.toPixel(...a.project(a.z)).map(v => v / a.pad.width),
                  sliders: a.inputs.map(i => i ? +i.value : null), low: a.low, high: a.high,
                  preview: Array.from(a.small.getContext('2d').getImageData(0, 0, 28, 28).data) }}; }}""")


def wait_sent(page, sent: list, n: int = 1, timeout: float = 10.0) -> None:
    """Until the page has sent n websocket messages since `sent` was last cleared (polls)."""
    for _ in range(int(timeout / 0.05)):
        if len(sent) >= n:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the page sent {len(sent)} websocket messages, expected {n}")


def render(page, codes) -> list[list[int]]:
    """The grey bytes (784 per code) the explorer draws for each code."""
    return page.evaluate(f"codes => {_APP}.render(codes)", [list(map(float, z)) for z in codes])


def pad_data(page) -> tuple[list, list]:
    """The pad's drawn positions (n, 2) and codes (n, d), as the explorer holds them."""
    return page.evaluate(f"""() => {{ const a = {_APP};
        const rows = (f, k) => Array.from({{ length: a.n }}, (_, i) => Array.from(f.subarray(i * k, i * k + k)));
        return [rows(a.xy, 2), rows(a.codes, a.d)]; }}""")


def project_and_lift(page, codes, points) -> tuple[list, list]:
    """The explorer's pad point for each code and lifted code for each pad point; it keeps its code."""
    return page.evaluate(f"""([codes, points]) => {{ const a = {_APP}, saved = Float32Array.from(a.z);
        const lifted = points.map(p => {{ a.lift(p); return Array.from(a.z); }});
        a.z.set(saved);
        return [codes.map(z => a.project(z)), lifted]; }}""",
        [[list(map(float, z)) for z in codes], [list(map(float, p)) for p in points]])


def pad_box(page) -> dict:
    pad = page.locator(f"{HOST} canvas.pad-canvas")
    pad.scroll_into_view_if_needed()
    return pad.bounding_box()


def slider_box(page, i: int) -> dict:
    s = page.locator(f'{HOST} input[type="range"][aria-label="z{i}"]')
    s.scroll_into_view_if_needed()
    return s.bounding_box()


def drag(page, points, box: dict, hold_last: bool = False) -> None:
    """Press at the first of `points` (fractions of `box`), move through the rest, release."""
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y)
    if not hold_last:
        page.mouse.up()
