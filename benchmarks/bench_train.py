"""Seconds per epoch: the reference pipeline against our engine, in one run; plus clustering time.

    python benchmarks/bench_train.py [--epochs 3] [--device cpu|cuda]

Prints one line per number and the ratio (target: ours <= 0.40x the reference; clustering of
the 48k training codes <= 2 s on the 2-core machine).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dae_core.bench import run_all  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result = run_all(args.epochs, device=args.device)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
