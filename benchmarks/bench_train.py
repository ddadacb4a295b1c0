"""Seconds per epoch: the reference pipeline against the engine, taking turns in one run; plus clustering.

    python benchmarks/bench_train.py [--epochs 3] [--device cpu|cuda] [--preset reference|quick]
                                     [--batch-size N] [--json]

The engine trains the preset's recipe (its batch size, or --batch-size; by default the reference's).
Prints the median epoch of each, their ratio, each pair's own ratio, and the time to encode the
48k training codes, k-means them and match the clusters (reference-d4).
"""
import argparse
import json

from dae_core.config import PRESETS, preset
from dae_core.errors import ConfigError
from dae_core.paths import ROOT
from dae_harness.pipelines import cluster_seconds, median_epochs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", choices=tuple(PRESETS), default="reference", help="the engine's recipe")
    p.add_argument("--batch-size", type=int, default=None, help="the engine's batch (default: the preset's)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    overrides = {} if args.batch_size is None else {"batch_size": args.batch_size}
    try:
        preset(args.preset, **overrides)
    except ConfigError as e:
        p.error(str(e))
    result = {**median_epochs(args.epochs, args.device, args.preset, **overrides),
              **cluster_seconds(ROOT / "checkpoints" / "reference-d4.pt")}
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
