"""Seconds per epoch on a GPU: the engine, data resident on the device, against the reference pipeline.

    python benchmarks/bench_gpu.py [--epochs 3] [--compile reduce-overhead] [--device cuda|cpu]

Trains the reference model (d=4, gaussian 0.3, Adam 1e-3, batch 256) for a few epochs in DAE
Lab's engine: the 48k training images sit on the device, each batch is sliced there, the noise is
drawn there, and the host waits for the device once per report (every 10 batches), not once per
step. `--compile MODE` trains through torch.compile(model, mode=MODE) ("reduce-overhead" replays
CUDA graphs). Then the same epochs of the reference pipeline (torchvision MNIST + DataLoader) on
the same device. Prints one JSON object: seconds of each epoch, the median after the first (which
includes loading and compiling) and the ratio engine / reference.

Without a CUDA GPU it says so in one line and exits 0; `--device cpu` runs the same path on the
CPU on a small subset (a smoke run of this script, not a measurement).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch

from dae_core.config import preset
from dae_harness.pipelines import engine_epochs, reference_epochs

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
CPU_SUBSET = 512  # images per split in a --device cpu smoke run


def measure(device: str, epochs: int, compile_mode: str | None, subset: int = 0) -> dict:
    """Both pipelines' epoch seconds and validation MSE on `device`; `subset` > 0 trims both."""
    config = preset("reference", device=device, epochs=epochs,
                    train_subset=int(subset / 0.8) if subset else 0)
    ours = list(engine_epochs(config, compile_mode))
    reference = list(reference_epochs(epochs, device=device, limit=subset))
    ours_s, reference_s = [s for s, _ in ours], [s for s, _ in reference]
    steady_ours = statistics.median(ours_s[1:] or ours_s)
    steady_ref = statistics.median(reference_s[1:] or reference_s)
    return {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "torch": torch.__version__, "compile": compile_mode or "off", "epochs": epochs,
            "subset": subset or None, "engine_epoch_s": ours_s, "reference_epoch_s": reference_s,
            "engine_median_s": steady_ours, "reference_median_s": steady_ref,
            "ratio": steady_ours / steady_ref,
            "engine_val_mse": [round(v, 5) for _, v in ours],
            "reference_val_mse": [round(v, 5) for _, v in reference]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--epochs", type=int, default=3, help="epochs of each pipeline (the first is not in the median)")
    p.add_argument("--compile", choices=COMPILE_MODES, default=None, help="torch.compile mode (default: eager)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU on this machine, nothing measured (--device cpu runs a small CPU smoke run)")
        return 0
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick each layer's fastest kernel
    print(json.dumps(measure(args.device, args.epochs, args.compile,
                             CPU_SUBSET if args.device == "cpu" else 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
