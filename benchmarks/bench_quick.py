"""Time to a good model: the quick preset against the reference pipeline, in one run on one machine.

    python benchmarks/bench_quick.py [--threshold 0.0271] [--device cpu|cuda] [--preset quick]
                                     [--compile MODE]

Each side trains from scratch (seed 0, d=4) until its validation MSE is at or below the threshold,
the reference recipe's 30-epoch result: the engine on the `quick` preset (10 epochs, one-cycle),
then the reference pipeline (torchvision MNIST + DataLoader, Adam 1e-3, up to 30 epochs). Wall
time counts from the start, data loading and validation included. Prints one JSON object: both
times, the epochs each took, their validation curves and the ratio quick / reference.
`--compile MODE` trains the engine's side in that mode (bench_gpu.py lists them; `cuda-graph`
takes a schedule that keeps Adam's betas, e.g. `--preset reference`).
"""
import argparse
import json

from dae_core.config import PRESETS, preset
from dae_harness.pipelines import QUALITY_MSE, engine_epochs, reference_epochs, time_to_quality


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threshold", type=float, default=QUALITY_MSE, help="validation MSE to reach")
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick", help="the engine's recipe")
    p.add_argument("--reference-epochs", type=int, default=30, help="the reference pipeline's budget")
    p.add_argument("--compile", default=None, help="the engine's compile mode (default: eager)")
    args = p.parse_args()
    engine = engine_epochs(preset(args.preset, device=args.device), args.compile)
    quick = time_to_quality(engine, args.threshold)
    reference = time_to_quality(reference_epochs(args.reference_epochs, device=args.device), args.threshold)
    print(json.dumps({"threshold": args.threshold, "preset": args.preset, "compile": args.compile or "off",
                      "quick_s": quick["seconds"],
                      "reference_s": reference["seconds"], "ratio": quick["seconds"] / reference["seconds"],
                      "quick": quick, "reference": reference}))


if __name__ == "__main__":
    main()
