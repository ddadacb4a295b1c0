"""Whole engine epochs in channels-last (what `dae_core.train.place` picks on CPU) against NCHW.

    python benchmarks/bench_layout.py [--rounds 9]

The two models take turns, one epoch each, in one process, so the machine's drifting speed
weighs on both; prints each layout's median epoch and the median of the per-round ratios.
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dae_core.config import TrainConfig  # noqa: E402
from dae_core.train import EpochStats, fit, new_state, prepare_data  # noqa: E402

LAYOUTS = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args()
    states = {}
    for name, layout in LAYOUTS.items():
        state = new_state(TrainConfig(device="cpu", epochs=1))
        state.model.to(memory_format=layout)
        states[name] = state
    data = prepare_data(states["nchw"].config, torch.device("cpu"))
    seconds = {name: [] for name in states}
    for r in range(args.rounds):
        for name in (list(states) if r % 2 == 0 else list(states)[::-1]):
            epoch = [e for e in fit(states[name], data, epochs=1) if isinstance(e, EpochStats)]
            seconds[name].append(epoch[0].seconds)
    for name, s in seconds.items():
        print(f"{name:>14}: median epoch {statistics.median(s):.2f} s  {[round(x, 2) for x in s]}")
    ratios = [n / c for c, n in zip(seconds["channels_last"], seconds["nchw"])]
    print(f"{'nchw / cl':>14}: median per-round ratio {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
