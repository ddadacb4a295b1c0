"""SVG charts: the model card's sparkline, the noise sweep, the class bars (what they draw, where)."""
import re

import numpy as np
import pytest

from ui.svg import SPARK_W, class_bars, history_sparkline, noise_sweep_svg


def test_history_sparkline_spans_its_box_lowest_loss_at_the_bottom():
    history = [{"epoch": e, "train_loss": 1.0, "val_loss": v} for e, v in
               [(1, 0.09), (2, 0.05), (3, 0.03), (4, 0.04)]]
    svg = history_sparkline(history)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "0.0900 → 0.0400" in svg
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    xy = np.array([p.split(",") for p in points], float)
    assert len(xy) == 4 and np.all(np.diff(xy[:, 0]) > 0)  # one point per epoch, left to right
    assert xy[:, 1].argmax() == 2 and xy[:, 1].argmin() == 0  # SVG y grows downward
    assert len(re.findall(r"\d,", history_sparkline(history * 1000))) <= 2 * SPARK_W  # bounded


def test_class_bars_are_as_tall_as_their_counts_and_say_them():
    svg = class_bars(np.array([50, 100, 0, 25]), "Predicted <digit>")
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([^"]+)"', svg)]
    assert len(heights) == 4 and heights[2] == 0
    assert np.allclose(np.array(heights) / heights[1], [0.5, 1, 0, 0.25], atol=0.01)
    assert all(f">{c}</text>" in svg for c in (50, 100, 0, 25))
    assert "Predicted &lt;digit&gt;" in svg  # text shows as written
    assert 'height="0.0"' in class_bars(np.zeros(10))  # no samples: empty bars, no error


def test_noise_sweep_svg_draws_both_curves_on_a_zero_based_axis_and_marks_the_strength():
    strengths = np.array([0.0, 0.25, 0.5, 1.0])
    svg = noise_sweep_svg(strengths, [0.0, 0.02, 0.04, 0.08], [0.01, 0.01, 0.02, 0.03], "salt <pepper>",
                          marked=0.5)
    curves = [np.array([p.split(",") for p in pts.split()], float)
              for pts in re.findall(r'<polyline points="([^"]+)"', svg)]
    assert len(curves) == 2 and all(len(c) == 4 for c in curves)
    noisy, _ = curves
    assert np.allclose(np.diff(noisy[:, 0]) / np.diff(strengths), np.diff(noisy[:, 0])[0] / 0.25)  # x linear
    zero_y = float(re.search(r'y="([\d.]+)"[^>]*>0</text>', svg).group(1)) - 4  # the "0" tick's line
    assert noisy[0, 1] == pytest.approx(zero_y, abs=0.2)  # MSE 0 sits on the 0 tick
    marker = re.search(r'x1="([\d.]+)" x2="\1" y1="\d+" y2="\d+" stroke="gray"', svg)
    assert float(marker.group(1)) == pytest.approx(noisy[2, 0])  # the dotted line at strength 0.5
    assert "salt &lt;pepper&gt;" in svg


def test_the_runs_chart_draws_one_line_per_run_and_a_log_axis_of_round_values():
    from ui.svg import compare_runs_svg

    runs = {"a <b>": [{"epoch": e, "val_loss": 0.1 / e} for e in (1, 2, 3)],
            "other": [{"epoch": 1, "val_loss": 0.05}]}
    linear, log = compare_runs_svg(runs), compare_runs_svg(runs, log_y=True)
    for svg in (linear, log):
        assert svg.count("<polyline") == 2 and svg.count("<circle") == 4
        assert "a &lt;b&gt;" in svg and "<b>" not in svg  # names from files are text
    ticks = lambda svg: [float(t) for t in re.findall(r'text-anchor="end"[^>]*>([0-9.e-]+)<', svg)]  # noqa: E731
    assert ticks(linear)[0] == 0  # a linear axis starts at 0
    assert 0 not in ticks(log) and min(ticks(log)) <= 0.0334 and max(ticks(log)) >= 0.1
