"""Whole engine epochs in channels-last (what `dae_core.train.place` picks on CPU) against NCHW.

    python benchmarks/bench_layout.py [--rounds 9]

The two layouts take turns, one epoch each, in one process (as `bench_train.py` does with the
reference), so the machine's drifting speed weighs on both; prints each layout's median epoch
and the median of the per-round ratios.
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dae_core.bench import engine_epochs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args()
    pairs = list(zip(engine_epochs(args.rounds, memory_format=torch.channels_last),
                     engine_epochs(args.rounds, memory_format=torch.contiguous_format)))
    for name, seconds in (("channels_last", [c for c, _ in pairs]), ("nchw", [n for _, n in pairs])):
        print(f"{name:>14}: median epoch {statistics.median(seconds):.2f} s  {[round(s, 2) for s in seconds]}")
    print(f"{'nchw / cl':>14}: median per-round ratio {statistics.median([n / c for c, n in pairs]):.3f}")


if __name__ == "__main__":
    main()
