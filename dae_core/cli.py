"""The command line: python -m dae_core train | evaluate | cluster | generate | denoise | refine
| train-classifier. It parses arguments and calls the functions the app calls; the commands are
in cli_train (training) and cli_models (using a trained model)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from . import checkpoint as ckpt_io
from .cli_models import cmd_cluster, cmd_denoise, cmd_evaluate, cmd_generate
from .cli_train import cmd_refine, cmd_train, cmd_train_classifier
from .config import PRESETS, TrainConfig
from .errors import DaeError
from .latent import DEFAULT_SAMPLER


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per TrainConfig field, typed from its default; unset flags stay None."""
    group = parser.add_argument_group("training configuration (defaults: the reference run)")
    for f in dataclasses.fields(TrainConfig):
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default),
                           default=None, help=f"default {f.default!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dae_core", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, fn, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", help="print one JSON object with the results")
        sp.set_defaults(fn=fn)
        return sp

    sp = command("train", cmd_train, "train a denoising autoencoder")
    sp.add_argument("--preset", choices=tuple(PRESETS),
                    help="a named recipe: reference (30 epochs at a constant 1e-3) or quick (10 epochs, "
                         "one-cycle up to 1.5e-2, the same val MSE); flags given with it override it")
    _config_flags(sp)
    sp.add_argument("--out", help="checkpoint path, saved after every epoch")
    sp.add_argument("--resume", help="checkpoint to continue; --epochs then means 'N more'")
    sp.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    sp.add_argument("--ray", action="store_true",
                    help="train as a Ray job: on a local Ray, or on the cluster at $RAY_ADDRESS (its GPU if it has one)")
    for name, fn, help_ in (("evaluate", cmd_evaluate, "validation and test MSE / PSNR"),
                            ("cluster", cmd_cluster, "cluster the training codes, Hungarian accuracy"),
                            ("generate", cmd_generate, "decode sampled codes to an image grid (.png) or an array (.npy)"),
                            ("denoise", cmd_denoise, "denoise one image file")):
        sp = command(name, fn, help_)
        sp.add_argument("--checkpoint", required=True)
        if name in ("evaluate", "cluster"):
            sp.add_argument("--save-metrics", action="store_true", help="record in the model card")
    sp = sub.choices["cluster"]
    sp.add_argument("--k", type=int, default=10)
    sp.add_argument("--method", default="kmeans", help="kmeans | gmm | umap-kmeans | umap-gmm")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--seeds", type=int, default=1, help="repeat over this many seeds: mean ± std")
    sp = sub.choices["generate"]
    sp.add_argument("--n", type=int, default=9)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", required=True, help="digits.png: an image grid; digits.npy: the (N, 28, 28) array")
    sp.add_argument("--sampler", default=DEFAULT_SAMPLER,
                    help=f"uniform01 | box | gaussian | gmm | cluster:K (default {DEFAULT_SAMPLER}, as in the app)")
    sp.add_argument("--score-with", metavar="CLASSIFIER",
                    help="a classifier checkpoint: add sample-quality scores (IS, FID, ...) to the output")
    sp = sub.choices["denoise"]
    sp.add_argument("--image", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--noise", default="none", choices=("none", "gaussian", "salt_pepper", "mask"))
    sp.add_argument("--strength", type=float, default=None, help="default: the checkpoint's")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--scale", type=int, default=1, help="enlarge the PNG by this factor")
    sp = command("refine", cmd_refine, "cluster-guided fine-tuning of a model's codes")
    sp.add_argument("--checkpoint", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--k", type=int, default=10)
    sp.add_argument("--rounds", type=int, default=2)
    sp.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs per round")
    sp.add_argument("--methods", default="umap-gmm,gmm", help="pseudo-label method per round")
    sp.add_argument("--threshold", type=float, default=0.95, help="min clustering confidence")
    sp.add_argument("--agreement", type=float, default=0.9, help="min share of agreeing neighbours")
    sp.add_argument("--weight", type=float, default=1.0, help="weight of the cross-entropy term")
    sp.add_argument("--augment", type=float, default=0.5)
    sp.add_argument("--invariant", action="store_true",
                    help="reconstruct the un-jittered image, so the code drops pose")
    sp.add_argument("--seed", type=int, default=0)
    sp = command("train-classifier", cmd_train_classifier, "train the digit classifier that scores samples")
    sp.add_argument("--out", default=str(ckpt_io.CHECKPOINT_DIR / "classifiers" / "mnist-cnn.pt"))
    sp.add_argument("--epochs", type=int, default=4)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--subset", type=int, default=0, help="first N training images (0 = all); for smoke runs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result, text = args.fn(args)
    except DaeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller batch size or subset", file=sys.stderr)
        return 2
    print(json.dumps(result, default=float) if args.json else text)
    return 0
