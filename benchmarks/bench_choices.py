"""Whole engine epochs in plain NCHW against channels-last (what `dae_core.device.place` picks on
CPU), taking turns in one process.

    python benchmarks/bench_choices.py [--rounds 9]

The two take turns, one epoch each, so the machine's drifting speed weighs on both; prints each
one's median epoch and the median of the per-round ratios (above 1: channels-last pays).
"""
import argparse
import statistics
import time

import torch

from dae_core.config import TrainConfig
from dae_core.train import EpochStats, fit, new_state, prepare_data


def epochs(rounds: int, nchw: bool):
    """Seconds of each epoch of the reference configuration on the CPU, in one layout."""
    state = new_state(TrainConfig(device="cpu", epochs=rounds))
    if nchw:
        state.model.to(memory_format=torch.contiguous_format)
    data = prepare_data(state.config, state.device)
    t = time.perf_counter()
    for event in fit(state, data):
        if isinstance(event, EpochStats):
            yield time.perf_counter() - t
            t = time.perf_counter()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args()
    pairs = list(zip(epochs(args.rounds, False), epochs(args.rounds, True)))
    for name, seconds in (("channels-last", [a for a, _ in pairs]), ("NCHW", [b for _, b in pairs])):
        print(f"{name:>16}: median epoch {statistics.median(seconds):.2f} s  {[round(s, 2) for s in seconds]}")
    print(f"{'NCHW / channels-last':>16}: median per-round ratio {statistics.median([b / a for a, b in pairs]):.3f}")


if __name__ == "__main__":
    main()
