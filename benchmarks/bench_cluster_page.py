"""Seconds for the Cluster page: first run for a checkpoint (cold caches) and a revisit (warm caches).

    python benchmarks/bench_cluster_page.py [--repeat 3]

Runs pages/4_Cluster.py with Streamlit's AppTest against the default checkpoint. Imports are done
once before timing (and reported apart), so "first" is the work of a checkpoint seen for the first
time: encode its 48k + 10k images, k-means, scores, PCA map, figures. Targets on the 2-core
machine: first <= 3 s, revisit <= 0.5 s.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGE = str(ROOT / "pages" / "4_Cluster.py")


def run_once() -> tuple[float, float]:
    """(first, revisit) seconds of the page in one AppTest, caches cleared beforehand."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(PAGE, default_timeout=300)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    if at.exception:
        raise SystemExit(f"the page raised: {at.exception[0].message}")
    t = time.perf_counter()
    at.run()
    return first, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    t = time.perf_counter()
    import plotly.graph_objects  # noqa: F401  the page's imports, paid once per process
    import sklearn.cluster  # noqa: F401
    import streamlit.testing.v1  # noqa: F401

    import dae_core.embed  # noqa: F401
    import dae_core.pipeline  # noqa: F401
    import ui.cache
    import ui.sidebar  # noqa: F401
    print(f"{'imports (once)':>16}: {time.perf_counter() - t:.2f} s")
    firsts, revisits = [], []
    for i in range(args.repeat):
        first, revisit = run_once()
        firsts.append(first)
        revisits.append(revisit)
        print(f"{f'run {i + 1}':>16}: first {first:.2f} s, revisit {revisit:.3f} s")
    path, mtime = ui.cache.file_key(ROOT / "checkpoints" / "reference-d4.pt")
    steps = {"encoding": ui.cache.codes(path, mtime).seconds,
             **ui.cache.clustering(path, mtime, 10, "kmeans", 0).seconds}
    print(f"{'last run steps':>16}: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
    print(f"{'median':>16}: first {statistics.median(firsts):.2f} s (target <= 3), "
          f"revisit {statistics.median(revisits):.3f} s (target <= 0.5)")


if __name__ == "__main__":
    main()
