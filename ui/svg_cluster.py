"""The Cluster page's pictures as SVG strings: the confusion matrix (each cell a clickable group
carrying its digit and cluster) and the map of the codes as a density picture with its legend.
Pictures, so that the page loads no charting code in the browser."""
from __future__ import annotations

import base64
import html

import numpy as np

from dae_core.figures import MAP_BINS, density_rgb, label_color
from dae_core.images import to_png

CELL = 36  # a confusion cell's side, in SVG pixels
_BLUES = np.array([[0xf7, 0xfb, 0xff], [0x08, 0x30, 0x6b]], np.float32)  # empty, fullest cell
_TEXT = 'font-family="sans-serif" fill="#31333f"'


def _blue(share: float) -> tuple[str, str]:
    """(fill, text colour) of a cell holding `share` (0..1) of the fullest cell's count."""
    r, g, b = (_BLUES[0] + (_BLUES[1] - _BLUES[0]) * share).round().astype(int)
    return f"rgb({r},{g},{b})", "white" if share > 0.5 else "#31333f"


def confusion_svg(matrix: np.ndarray, rows: list, cols: list, title: str, x_title: str = "cluster",
                  y_title: str = "true digit", ids: list | None = None,
                  picked: tuple[int, int] | None = None) -> str:
    """Counts as a heatmap with the numbers on the cells; rows = true labels (top to bottom).
    Each cell is a <g class="cell" data-row=LABEL data-col=ID> (`ids`, default `cols`) with a
    tooltip; `picked` (row position, column position) is outlined and marked data-picked."""
    matrix = np.asarray(matrix)
    ids = list(cols) if ids is None else list(ids)
    n_rows, n_cols = matrix.shape
    left, top = 56, 40
    width, height = left + n_cols * CELL + 8, top + n_rows * CELL + 44
    top_count = max(int(matrix.max()), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'style="max-width:{width * 1.4:.0f}px">',
             f'<text x="0" y="16" font-size="14" {_TEXT}>{html.escape(title)}</text>']
    for i in range(n_rows):
        y = top + i * CELL
        parts.append(f'<text x="{left - 6}" y="{y + CELL / 2 + 4}" font-size="11" text-anchor="end" '
                     f'{_TEXT}>{html.escape(str(rows[i]))}</text>')
        for j in range(n_cols):
            x, count = left + j * CELL, int(matrix[i, j])
            fill, ink = _blue(count / top_count)
            tip = f"{y_title} {rows[i]}, {x_title} {cols[j]}: {count:,}"
            mark = ' data-picked="true"' if picked == (i, j) else ""
            parts.append(f'<g class="cell" data-row="{html.escape(str(rows[i]))}" '
                         f'data-col="{html.escape(str(ids[j]))}"{mark}><title>{html.escape(tip)}</title>'
                         f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{fill}" '
                         f'stroke="white"/><text x="{x + CELL / 2}" y="{y + CELL / 2 + 4}" '
                         f'font-size="10" text-anchor="middle" font-family="sans-serif" '
                         f'fill="{ink}">{count}</text></g>')
    for j in range(n_cols):
        parts.append(f'<text x="{left + j * CELL + CELL / 2}" y="{top + n_rows * CELL + 14}" '
                     f'font-size="10" text-anchor="middle" {_TEXT}>{html.escape(str(cols[j]))}</text>')
    if picked is not None:
        i, j = picked
        parts.append(f'<rect x="{left + j * CELL + 1.5}" y="{top + i * CELL + 1.5}" width="{CELL - 3}" '
                     f'height="{CELL - 3}" fill="none" stroke="#d62728" stroke-width="3" '
                     'pointer-events="none"/>')
    parts.append(f'<text x="{left + n_cols * CELL / 2}" y="{height - 6}" font-size="12" '
                 f'text-anchor="middle" {_TEXT}>{html.escape(x_title)}</text>')
    parts.append(f'<text transform="translate(14 {top + n_rows * CELL / 2}) rotate(-90)" '
                 f'font-size="12" text-anchor="middle" {_TEXT}>{html.escape(y_title)}</text>')
    return "".join(parts) + "</svg>"


MAP_W, MAP_H = 720, 440  # the map's picture, in SVG pixels (its plot area: 600 x 400)


def density_svg(xy: np.ndarray, color: np.ndarray, title: str, color_title: str,
                bins: tuple[int, int] = MAP_BINS) -> str:
    """A 2-D map of many points as one density picture (figures.density_rgb: each small square
    the mix of its points' label colours, faint where few fall) with a legend of the colours, as
    an SVG for st.image: as cheap to draw for 48,000 points as for 480."""
    image, _, _, values = density_rgb(xy, color, bins)
    png = base64.b64encode(to_png(image[::-1] / 255.0)).decode()  # row 0 is the lowest y: on top
    x0, y0, w, h = 8, 28, 600, 400
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MAP_W} {MAP_H}" width="{MAP_W}">',
             f'<text x="{x0}" y="18" font-size="14" {_TEXT}>{html.escape(title)}</text>',
             f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="white" stroke="#d0d3da"/>',
             f'<image x="{x0}" y="{y0}" width="{w}" height="{h}" preserveAspectRatio="none" '
             f'style="image-rendering:pixelated" href="data:image/png;base64,{png}"/>',
             f'<text x="{x0 + w + 16}" y="{y0 + 12}" font-size="12" {_TEXT}>{html.escape(color_title)}</text>']
    for i, value in enumerate(values):
        y = y0 + 32 + i * 20
        parts.append(f'<circle cx="{x0 + w + 22}" cy="{y - 4}" r="5" fill="{label_color(i)}"/>'
                     f'<text x="{x0 + w + 34}" y="{y}" font-size="12" {_TEXT}>{html.escape(str(value))}</text>')
    return "".join(parts) + "</svg>"
