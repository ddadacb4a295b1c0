"""Whole engine epochs with one of its speed choices undone, taking turns with the engine as it is.

    python benchmarks/bench_choices.py [--undo native|layout] [--rounds 9]

  native        PyTorch's layers everywhere instead of `dae_core/native`'s kernels
                (`dae_core.layers.to_plain`)
  layout        NCHW instead of channels-last (what `dae_core.train.place` picks on CPU)

The two take turns, one epoch each, in one process (as `bench_train.py` does with the
reference), so the machine's drifting speed weighs on both; prints each one's median epoch and
the median of the per-round ratios (above 1: the choice pays).
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dae_core.bench import engine_epochs  # noqa: E402
from dae_core.layers import to_plain  # noqa: E402

UNDO = {
    "layout": lambda model: model.to(memory_format=torch.contiguous_format),
    "native": to_plain,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--undo", choices=sorted(UNDO), default="native")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args()
    pairs = list(zip(engine_epochs(args.rounds), engine_epochs(args.rounds, adjust=UNDO[args.undo])))
    for name, seconds in (("engine", [e for e, _ in pairs]), (f"{args.undo} undone", [u for _, u in pairs])):
        print(f"{name:>20}: median epoch {statistics.median(seconds):.2f} s  {[round(s, 2) for s in seconds]}")
    print(f"{'undone / engine':>20}: median per-round ratio {statistics.median([u / e for e, u in pairs]):.3f}")


if __name__ == "__main__":
    main()
