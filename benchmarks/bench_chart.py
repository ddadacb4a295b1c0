"""What one redraw of the Train page's live loss chart costs as a run grows.

    python benchmarks/bench_chart.py [--points 1000 10000 100000] [--repeat 5]

For each length of run (batch points, with one epoch point per 100), builds the chart the page
draws (`dae_core.figures.loss_chart`) and serialises it as Streamlit does (`to_json`), and prints
the median time and the size sent to the browser. A redraw should cost about the same whatever
the run's length: the batch traces are thinned to a fixed number of points.
"""
import argparse
import statistics
import time

import numpy as np

from dae_core.figures import loss_chart


def redraw(n: int) -> tuple[float, int]:
    """(seconds, bytes) of one chart build + JSON for a run of n batch points."""
    rng = np.random.default_rng(0)
    batches = list(zip((np.arange(n) / 100).tolist(), (0.05 + 0.01 * rng.random(n)).tolist()))
    history = [{"epoch": e, "train_loss": 0.03, "val_loss": 0.03} for e in range(1, n // 100 + 1)]
    t = time.perf_counter()
    text = loss_chart(history, batches).to_json()
    return time.perf_counter() - t, len(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    redraw(100)  # imports and first-call costs
    for n in args.points:
        runs = [redraw(n) for _ in range(args.repeat)]
        seconds = statistics.median(s for s, _ in runs)
        print(f"{n:>9,} batch points: {seconds * 1000:6.1f} ms per redraw, {runs[0][1] / 1024:5.0f} KiB")


if __name__ == "__main__":
    main()
