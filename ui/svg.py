"""Small charts as SVG strings for st.image: pictures, so that a page drawing only these loads no
charting code in the browser (Plotly's is large, and the page waits for it: docs/speed.md).

Each <svg> states its width and height in pixels: drawn as an image, it has a natural size, and
st.image scales it to its column from there."""
from __future__ import annotations

import html

import numpy as np

from dae_core.figures import decimate, label_color

SPARK_W, SPARK_H, SPARK_PAD = 240, 72, 14  # the sidebar's sparkline, in SVG pixels


def history_sparkline(history: list[dict]) -> str:
    """The validation-loss curve of a model card as a small SVG (an <svg> string for st.image):
    a picture, so that a page with no other chart loads no charting code in the browser. The
    curve spans the box; the lowest loss is at the bottom, the first and last values are written."""
    val = np.array([float(h["val_loss"]) for h in history], dtype=float)
    epochs = np.array([float(h["epoch"]) for h in history], dtype=float)
    keep = decimate(len(val), SPARK_W)
    val, epochs = val[keep], epochs[keep]
    span = lambda v: (v - v.min()) / (v.max() - v.min()) if v.max() > v.min() else v * 0 + 0.5  # noqa: E731
    x = SPARK_PAD + span(epochs) * (SPARK_W - 2 * SPARK_PAD)
    y = SPARK_PAD + (1 - span(val)) * (SPARK_H - 2 * SPARK_PAD)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y))
    text = 'font-family="sans-serif" font-size="10" fill="#808495"'
    edge = 3  # the texts' distance from the sides: a glyph may reach past its x
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SPARK_W} {SPARK_H}" '
            f'width="{SPARK_W}" height="{SPARK_H}">'
            f'<text x="{edge}" y="9" {text}>validation loss {val[0]:.4f} → {val[-1]:.4f}</text>'
            f'<polyline points="{points}" fill="none" stroke="#2ca02c" stroke-width="1.5"/>'
            f'<text x="{edge}" y="{SPARK_H - 1}" {text}>epoch {epochs[0]:g}</text>'
            f'<text x="{SPARK_W - edge}" y="{SPARK_H - 1}" text-anchor="end" {text}>{epochs[-1]:g}</text>'
            '</svg>')


SWEEP_W, SWEEP_H = 520, 280  # the noise sweep, in SVG pixels
_PLOT = (44, 30, 500, 240)  # its plot area: left, top, right, bottom


def _ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About n round tick values covering [lo, hi]."""
    step = 10 ** np.floor(np.log10((hi - lo) / n)) if hi > lo else 1.0
    step *= next(m for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (step * m) <= n)
    return np.arange(np.floor(lo / step) * step, hi + step / 2, step)


def _log_ticks(lo: float, hi: float) -> np.ndarray:
    """Round values (1, 2 and 5 times powers of ten; only powers past three decades) from the
    last at or below lo to the first at or above hi, for a log axis over the positive [lo, hi]."""
    first, last = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    steps = (1,) if last - first > 3 else (1, 2, 5)
    values = np.array([m * 10.0**e for e in range(first, last + 1) for m in steps])
    start = max(i for i, v in enumerate(values) if v <= lo * 1.0001)
    stop = min(i for i, v in enumerate(values) if v >= hi * 0.9999)
    return values[start:max(stop, start + 1) + 1]


def lines_svg(title: str, x_label: str, series: dict, log_y: bool = False,
              marked: float | None = None) -> str:
    """A line chart of named series {name: (x, y)} as an SVG string for st.image (no charting
    code in the browser): markers on the points, a legend under the plot, a dotted line at x =
    `marked`. The y axis starts at 0, or is logarithmic over the positive values."""
    series = {name: (np.asarray(x, float), np.asarray(y, float)) for name, (x, y) in series.items()}
    xs = np.concatenate([x for x, _ in series.values()] or [np.zeros(1)])
    ys = np.concatenate([y for _, y in series.values()] or [np.ones(1)])
    ys = ys[np.isfinite(ys) & (ys > 0 if log_y else True)]
    if log_y and len(ys):
        y_ticks = _log_ticks(float(ys.min()), float(ys.max()))
        y_lo, y_hi, f = np.log10(y_ticks[0]), np.log10(y_ticks[-1]), np.log10
    else:
        y_ticks = _ticks(0.0, float(ys.max()) if len(ys) and ys.max() > 0 else 1.0)
        y_lo, y_hi, f = 0.0, float(y_ticks[-1]), float
    x_lo, x_hi = float(xs.min()), float(xs.max()) if xs.max() > xs.min() else float(xs.min()) + 1
    left, top, right, bottom = _PLOT
    px = lambda v: left + (v - x_lo) / (x_hi - x_lo) * (right - left)  # noqa: E731
    py = lambda v: bottom - (f(v) - y_lo) / ((y_hi - y_lo) or 1.0) * (bottom - top)  # noqa: E731
    font = 'font-family="sans-serif" font-size="11"'
    text = f'{font} fill="#808495"'
    legend, x_at, row = [], left + 10, 0  # (x, row) of each series' name: rows as they fill up
    for name in series:
        width = 14 + 7 * len(name)
        if x_at + width > SWEEP_W and x_at > left + 10:
            x_at, row = left + 10, row + 1
        legend.append((x_at, row))
        x_at += width
    height = SWEEP_H + 14 * row
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SWEEP_W} {height}" '
             f'width="{SWEEP_W}" height="{height}">',
             f'<text x="0" y="14" font-family="sans-serif" font-size="14" fill="#31333f">'
             f'{html.escape(title)}</text>']
    for v in y_ticks:
        parts.append(f'<line x1="{left}" x2="{right}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#e6e9ef"/>'
                     f'<text x="{left - 4}" y="{py(v) + 4:.1f}" text-anchor="end" {text}>{v:.3g}</text>')
    for v in _ticks(x_lo, x_hi):
        if x_lo - 1e-9 <= v <= x_hi + 1e-9:
            parts.append(f'<text x="{px(v):.1f}" y="{bottom + 14}" text-anchor="middle" {text}>{v:.3g}</text>')
    parts.append(f'<text x="{right}" y="{bottom + 28}" text-anchor="end" {text}>{html.escape(x_label)}</text>')
    if marked is not None and x_lo <= marked <= x_hi:
        parts.append(f'<line x1="{px(marked):.1f}" x2="{px(marked):.1f}" y1="{top}" y2="{bottom}" '
                     'stroke="gray" stroke-dasharray="3,3"/>')
    for i, (name, (x, y)) in enumerate(series.items()):
        color, keep = label_color(i), np.isfinite(y) & (y > 0 if log_y else True)
        points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x[keep], y[keep]))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{color}"/>'
                     for a, b in zip(x[keep], y[keep]))
        parts.append(f'<text x="{legend[i][0]}" y="{SWEEP_H - 4 + 14 * legend[i][1]}" {font} '
                     f'fill="{color}">● {html.escape(name)}</text>')
    return "".join(parts) + "</svg>"


def noise_sweep_svg(strengths, corrupted_mse, reconstructed_mse, noise: str,
                    marked: float | None = None) -> str:
    """Error of the corrupted input and of the reconstruction against noise strength, with a
    dotted line at the strength `marked`; `noise` names the noise kind in the title."""
    return lines_svg(f"MSE against {noise} strength", "strength",
                     {"corrupted vs clean": (strengths, corrupted_mse),
                      "reconstruction vs clean": (strengths, reconstructed_mse)}, marked=marked)


def compare_runs_svg(runs: dict[str, list[dict]], log_y: bool = False) -> str:
    """Validation curves of several saved runs on one chart (name -> history)."""
    return lines_svg("Validation loss by run", "epoch",
                     {name: ([h["epoch"] for h in history], [h["val_loss"] for h in history])
                      for name, history in runs.items()}, log_y=log_y)


BARS_W, BARS_H = 400, 220  # the class bars, in SVG pixels


def class_bars(counts: np.ndarray, title: str = "Predicted class") -> str:
    """Bars of how many samples fall in each class 0..len(counts)-1, each with its count, as an
    SVG (an <svg> string for st.image): a picture, so that a page whose only chart it is loads no
    charting code in the browser."""
    counts = np.asarray(counts, dtype=float)
    top, bottom, n = 28, BARS_H - 20, len(counts)
    slot = BARS_W / n
    heights = counts / counts.max() * (bottom - top - 14) if counts.max() > 0 else counts * 0
    text = 'font-family="sans-serif" font-size="11" fill="#808495" text-anchor="middle"'
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {BARS_W} {BARS_H}" '
             f'width="{BARS_W}" height="{BARS_H}">',
             f'<text x="0" y="14" font-family="sans-serif" font-size="14" fill="#31333f">{html.escape(title)}</text>']
    for i, (count, h) in enumerate(zip(counts, heights)):
        x = i * slot
        parts.append(f'<rect x="{x + slot * 0.15:.1f}" y="{bottom - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{h:.1f}" fill="{label_color(0)}"/>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{bottom - h - 3:.1f}" {text}>{count:g}</text>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{BARS_H - 4}" {text}>{i}</text>')
    return "".join(parts) + "</svg>"
