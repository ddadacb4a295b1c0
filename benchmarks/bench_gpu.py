"""Seconds per epoch on a GPU: the engine, data resident on the device, against the reference pipeline.

    python benchmarks/bench_gpu.py [--epochs 3] [--compile off reduce-overhead] [--quality quick]
                                   [--device cuda|cpu]

Trains the reference model (d=4, gaussian 0.3, Adam 1e-3, batch 256) for a few epochs in DAE
Lab's engine, once per `--compile` mode: the 48k training images sit on the device, each batch is
sliced there, the noise is drawn there, and the host waits for the device once per report (every
10 batches), not once per step. `cuda-graph` captures the whole step of a full batch (forward,
loss, backward, Adam) as one CUDA graph and replays it; the other modes train through
torch.compile(model, mode=MODE) ("reduce-overhead" replays the forward and backward as CUDA graphs). Then the same epochs of the reference pipeline
(torchvision MNIST + DataLoader) on the same device. `--quality PRESET` also trains that preset
from scratch until its validation MSE reaches 0.0271 (the reference's 30-epoch result).

Prints one JSON line per measurement as it ends (so a run cut short keeps what it measured), then
a summary line: per mode, the seconds of each epoch, the median after the first (the first includes
loading and compiling) and the ratio engine / reference. Without a CUDA GPU it says so in one line
and exits 0; `--device cpu` runs the same path on the CPU on a small subset (a smoke run of this
script, not a measurement).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from dae_core.config import PRESETS, preset
from dae_harness.pipelines import QUALITY_MSE, engine_epochs, reference_epochs, time_to_quality

COMPILE_MODES = ("off", "cuda-graph", "default", "reduce-overhead", "max-autotune")
CPU_SUBSET = 512  # images per split in a --device cpu smoke run


def _steady(seconds: list[float]) -> float:
    """Median epoch seconds after the first (which pays loading and compiling)."""
    return statistics.median(seconds[1:] or seconds)


def _epochs(recipe: str, device: str, mode: str, subset: int, **settings):
    """The engine's (seconds, val MSE) per epoch for `recipe`; `subset` > 0: that many images a split."""
    config = preset(recipe, device=device, train_subset=int(subset / 0.8) if subset else 0, **settings)
    return engine_epochs(config, None if mode == "off" else mode)


def engine(device: str, epochs: int, mode: str, subset: int = 0) -> dict:
    runs = list(_epochs("reference", device, mode, subset, epochs=epochs))
    seconds = [s for s, _ in runs]
    return {"what": "engine", "compile": mode, "epoch_s": seconds, "median_s": _steady(seconds),
            "val_mse": [round(v, 5) for _, v in runs]}


def reference(device: str, epochs: int, subset: int = 0) -> dict:
    runs = list(reference_epochs(epochs, device=device, limit=subset))
    seconds = [s for s, _ in runs]
    return {"what": "reference", "epoch_s": seconds, "median_s": _steady(seconds),
            "val_mse": [round(v, 5) for _, v in runs]}


def quality(device: str, recipe: str, mode: str, subset: int = 0) -> dict:
    reached = time_to_quality(_epochs(recipe, device, mode, subset), QUALITY_MSE)
    return {"what": "time_to_quality", "preset": recipe, "compile": mode, "threshold": QUALITY_MSE, **reached}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--epochs", type=int, default=3, help="epochs of each pipeline (the first is not in the median)")
    p.add_argument("--compile", nargs="+", choices=COMPILE_MODES, default=["off"],
                   help="the engine's torch.compile modes to measure, in turn (off: eager)")
    p.add_argument("--quality", choices=tuple(PRESETS), default=None,
                   help=f"also time this preset from scratch to val MSE <= {QUALITY_MSE} (first --compile mode)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU on this machine, nothing measured (--device cpu runs a small CPU smoke run)")
        return 0
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick each layer's fastest kernel
    subset = CPU_SUBSET if args.device == "cpu" else 0
    summary = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
               "torch": torch.__version__, "epochs": args.epochs, "subset": subset or None}
    measured = []
    for mode in args.compile:
        t = time.perf_counter()
        try:
            measured.append(engine(args.device, args.epochs, mode, subset))
        except Exception as e:  # one mode failing on this machine leaves the others to measure
            print(json.dumps({"what": "engine", "compile": mode, "error": f"{type(e).__name__}: {e}"}), flush=True)
            continue
        print(json.dumps({**measured[-1], "wall_s": round(time.perf_counter() - t, 1)}), flush=True)
    ref = reference(args.device, args.epochs, subset)
    print(json.dumps(ref), flush=True)
    if args.quality:
        try:
            print(json.dumps(quality(args.device, args.quality, args.compile[0], subset)), flush=True)
        except Exception as e:  # e.g. a schedule the mode cannot train: said in one line
            print(json.dumps({"what": "time_to_quality", "preset": args.quality, "compile": args.compile[0],
                              "error": f"{type(e).__name__}: {e}"}), flush=True)
    summary["reference_median_s"] = ref["median_s"]
    summary["engine_median_s"] = {m["compile"]: m["median_s"] for m in measured}
    summary["ratio"] = {m["compile"]: m["median_s"] / ref["median_s"] for m in measured}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
