"""The command line: train | evaluate | cluster | generate | denoise | refine | refit-decoder |
train-classifier.

It parses and checks the arguments, then calls the functions the app calls; the commands
themselves are in train (training), models (using a trained model) and serve (runs on Ray)."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import sys
from pathlib import Path

from dae_core.analysis.cluster import METHODS
from dae_core.analysis.latent import DEFAULT_SAMPLER
from dae_core.cli import analyse
from dae_core.cli.serve import add_commands, cmd_train_ray, cmd_train_run_dir
from dae_core.config import PRESETS, SPLIT_RECIPE, TrainConfig
from dae_core.errors import DaeError
from dae_core.settings import settings

DESCRIPTION = """Train denoising autoencoders on handwritten digits, then use them: score them,
cluster their codes, generate and denoise digits. A command that writes a file never replaces an
existing one unless given --overwrite. An error is one line on stderr, with exit status 2."""
FIELD_HELP = {  # what each training setting means, for `train --help`
    "latent_dim": "size of the code z", "width": "channel multiplier of the convolutions",
    "noise": "corruption: gaussian | salt_pepper | mask",
    "noise_strength": "gaussian sigma, or share of pixels flipped / masked",
    "epochs": "passes over the training split (with --resume: how many more)",
    "lr": "Adam learning rate (the peak of a onecycle or cosine schedule)",
    "schedule": "constant | onecycle | cosine", "batch_size": "images per step",
    "val_fraction": "share of the training set held out for validation",
    "seed": "drives the split, shuffling, noise and initial weights", "device": "auto | cpu | cuda",
    "dataset": "mnist | fashion_mnist | kmnist", "train_subset": "first N training images (0 = all)",
    "augment": "random shifts, turns and scaling of the clean images (1.0 = ±2 px, ±10°, ±10%%)",
}
SEED_MAX = 2**31 - 1  # NumPy and scikit-learn take seeds below 2**32, and --seeds counts up from it


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _span(low, high) -> str:
    return f", at least {low}" if high is None else f" from {low} to {high}"


def _bounded(kind: type, noun: str, low, high):
    """An argparse type: a finite `kind` in [low, high], or a message that says what is wanted."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {noun}{_span(low, high)}; got {text}")
        return value
    return parse


def whole(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high]."""
    return _bounded(int, "a whole number", low, high)


def number(low: float, high: float | None = None):
    """An argparse type: a finite number in [low, high]."""
    return _bounded(float, "a number", low, high)


def methods(text: str) -> str:
    """An argparse type: a comma-separated list of clustering methods."""
    unknown = [m for m in text.split(",") if m not in METHODS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    return text


def refuse_existing(path, overwrite: bool, hint: str = "") -> None:
    """Raise DaeError when `path` names an existing file and --overwrite was not given."""
    if path is not None and Path(path).exists() and not overwrite:
        raise DaeError(f"{path} already exists: {hint}choose another --out, or replace it with --overwrite")


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per TrainConfig field, typed from its default; unset flags stay None."""
    group = parser.add_argument_group("training settings (defaults: the reference recipe)")
    for f in dataclasses.fields(TrainConfig):
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default), default=None,
                           help=f"{FIELD_HELP.get(f.name, f.name)} (default {f.default!r})")


def _split_flags(sp: argparse.ArgumentParser) -> None:
    """train-split's settings; the defaults are the recipe of docs/recipe.md (the split model)."""
    sp.add_argument("--out", required=True, help="where to save the model, after every epoch")
    sp.add_argument("--style-dim", type=whole(0, 256), default=SPLIT_RECIPE["style_dim"],
                    help="size of the style part of the code")
    sp.add_argument("--width", type=whole(1, 16), default=SPLIT_RECIPE["width"], help="channel multiplier")
    sp.add_argument("--epochs", type=whole(1, 10_000), default=SPLIT_RECIPE["epochs"])
    sp.add_argument("--lr", type=number(1e-6, 10), default=SPLIT_RECIPE["lr"], help="Adam learning rate")
    sp.add_argument("--schedule", choices=("constant", "onecycle", "cosine"), default=SPLIT_RECIPE["schedule"])
    sp.add_argument("--batch-size", type=whole(2, 65_536), default=SPLIT_RECIPE["batch_size"])
    sp.add_argument("--teacher", default=SPLIT_RECIPE["teacher"],
                    help="the autoencoder whose clustered codes the class part learns")
    sp.add_argument("--teacher-method", choices=METHODS, default=SPLIT_RECIPE["teacher_method"],
                    help="how the teacher's codes are clustered")
    sp.add_argument("--class-weight", type=number(0, 1000), default=SPLIT_RECIPE["class_weight"],
                    help="weight of the class part's cross-entropy against the reconstruction")
    sp.add_argument("--augment", type=number(0, 3), default=SPLIT_RECIPE["view_augment"],
                    help="jitter of each view: 1.0 = ±2 px, ±10°, ±10%% scale")
    sp.add_argument("--stroke", type=number(0, 1), default=SPLIT_RECIPE["stroke"],
                    help="stroke-width jitter of each view")
    sp.add_argument("--plain", type=number(0, 1), default=SPLIT_RECIPE["plain"],
                    help="share of each batch left unjittered, as validation and samples see digits")
    sp.add_argument("--swap-weight", type=number(0, 1000), default=SPLIT_RECIPE["swap_weight"],
                    help="weight of the swap loss: a style decoded with another digit's class part "
                         "must read as that digit")
    sp.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    sp.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    sp.add_argument("--train-subset", type=whole(0), default=0, help="first N training images (0 = all)")


def later(module: str, name: str):
    """The command function `name` of dae_core.cli.<module>, imported when its command runs: a
    command that needs no model (an analysis job on cached codes) then never loads PyTorch."""
    def run(args):
        return getattr(importlib.import_module(f"dae_core.cli.{module}"), name)(args)

    return run


cmd_train, cmd_refine = later("train", "cmd_train"), later("train", "cmd_refine")
cmd_train_split, cmd_train_classifier = later("train", "cmd_train_split"), later("train", "cmd_train_classifier")
cmd_evaluate, cmd_cluster = later("models", "cmd_evaluate"), later("models", "cmd_cluster")
cmd_generate, cmd_denoise = later("models", "cmd_generate"), later("models", "cmd_denoise")
cmd_refit_decoder = later("models", "cmd_refit_decoder")


def _prog() -> str:
    """'dae' when run as the installed command, else the way that always works."""
    return "dae" if Path(sys.argv[0]).stem == "dae" else "python -m dae_core"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=_prog(), description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, fn, help_, writes=False, checkpoint=True):
        sp = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")
        sp.add_argument("--json", action="store_true", help="print one JSON object with the results")
        if checkpoint:
            sp.add_argument("--checkpoint", required=True, help="the trained model (.pt)")
        if writes:
            sp.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
        sp.set_defaults(fn=fn)
        return sp

    sp = command("train", cmd_train, "train a denoising autoencoder", writes=True, checkpoint=False)
    sp.add_argument("--preset", choices=tuple(PRESETS),
                    help="a named recipe: reference (30 epochs at a constant 1e-3) or quick (10 epochs, "
                         "one-cycle up to 1.5e-2, the same val MSE); flags given with it override it")
    _config_flags(sp)
    sp.add_argument("--out", help="where to save the model, after every epoch (default: a new file "
                                  "in checkpoints/runs/; with --resume: a new file next to it)")
    sp.add_argument("--resume", metavar="CHECKPOINT",
                    help="continue this model's training; --epochs then means 'N more'")
    sp.add_argument("--ray", action="store_true",
                    help="train as a Ray job: on a local Ray, or on the cluster at $RAY_ADDRESS")
    sp.add_argument("--run-dir", metavar="FOLDER",
                    help="train the run described in this run folder, writing its progress there "
                         "(what the app's training jobs run)")
    analyse.add_command(command)
    add_commands(command, sub)
    sp = command("evaluate", cmd_evaluate, "validation and test MSE and PSNR of a model")
    sp.add_argument("--save-metrics", action="store_true", help="record the scores in the model's card")
    sp = command("cluster", cmd_cluster, "cluster a model's training codes and score them against the digits")
    sp.add_argument("--save-metrics", action="store_true", help="record the scores in the model's card")
    sp.add_argument("--k", type=whole(2), default=10, help="number of clusters (default 10)")
    sp.add_argument("--method", choices=METHODS, default="kmeans",
                    help="umap-* embed the codes with UMAP first (several minutes on 48k codes)")
    sp.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    sp.add_argument("--seeds", type=whole(1, 100), default=1,
                    help="repeat over this many seeds and report mean ± std")
    sp = command("generate", cmd_generate, "decode sampled codes to an image grid (.png) or an array (.npy)",
                 writes=True)
    sp.add_argument("--n", type=whole(1, 100_000), default=9, help="how many digits (default 9)")
    sp.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    sp.add_argument("--out", required=True, help="digits.png: an image grid; digits.npy: the (N, 28, 28) array")
    sp.add_argument("--sampler", default=DEFAULT_SAMPLER,
                    help=f"uniform01 | box | gaussian | gmm | cluster:K (default {DEFAULT_SAMPLER}, as in the app)")
    sp.add_argument("--style-sweeps", type=whole(1, 10_000), metavar="N",
                    help="a split model's style dials instead: N rows, each one sampled code with one "
                         "style coordinate swept across its slider range (an (N, steps, 28, 28) .npy)")
    sp.add_argument("--steps", type=whole(2, 100), default=9, help="steps of each style sweep (default 9)")
    sp.add_argument("--score-with", metavar="CLASSIFIER",
                    help="a classifier checkpoint: add sample-quality scores (IS, FID, ...) to the output")
    sp = command("denoise", cmd_denoise, "denoise one image file", writes=True)
    sp.add_argument("--image", required=True, help="a picture of one digit (PNG, JPEG, ...)")
    sp.add_argument("--out", required=True, help="the denoised digit (.png)")
    sp.add_argument("--noise", default="none", choices=("none", "gaussian", "salt_pepper", "mask"),
                    help="corrupt the image first (default none)")
    sp.add_argument("--strength", type=number(0), default=None, help="of the noise (default: the model's)")
    sp.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    sp.add_argument("--scale", type=whole(1, 64), default=1, help="enlarge the PNG by this factor")
    sp = command("refine", cmd_refine, "fine-tune a model so that its codes cluster by digit", writes=True)
    sp.add_argument("--out", required=True, help="where to save the refined model")
    sp.add_argument("--k", type=whole(2), default=10, help="number of clusters (default 10)")
    sp.add_argument("--rounds", type=whole(1, 1000), default=2)
    sp.add_argument("--epochs", type=whole(1, 10_000), default=5, help="fine-tuning epochs per round")
    sp.add_argument("--methods", type=methods, default="umap-gmm,gmm", help="pseudo-label method per round")
    sp.add_argument("--threshold", type=number(0, 1), default=0.95, help="min clustering confidence")
    sp.add_argument("--agreement", type=number(0, 1), default=0.9, help="min share of agreeing neighbours")
    sp.add_argument("--weight", type=number(0), default=1.0, help="weight of the cross-entropy term")
    sp.add_argument("--augment", type=number(0, 3), default=0.5, help="random shifts, turns and scaling")
    sp.add_argument("--invariant", action="store_true",
                    help="reconstruct the un-jittered image, so the code drops pose")
    sp.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    sp = command("refit-decoder", cmd_refit_decoder,
                 "train a model's decoder again with its encoder frozen: the codes stay as they are", writes=True)
    sp.add_argument("--out", required=True, help="where to save the refitted model")
    sp.add_argument("--epochs", type=whole(1, 10_000), default=10)
    sp.add_argument("--lr", type=number(1e-6, 10), default=1e-2, help="peak of the one-cycle schedule")
    sp.add_argument("--augment", type=number(0, 3), default=0.0, help="random shifts, turns and scaling")
    sp.add_argument("--fresh", action="store_true", help="start from new decoder weights")
    sp.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    sp = command("train-split", cmd_train_split, "train a model whose code splits into a digit part and a "
                 "style part", writes=True, checkpoint=False)
    _split_flags(sp)
    sp = command("train-classifier", cmd_train_classifier, "train the digit classifier that scores samples",
                 writes=True, checkpoint=False)
    sp.add_argument("--out", required=True, help="where to save the classifier, e.g. checkpoints/runs/cnn.pt")
    sp.add_argument("--epochs", type=whole(1, 10_000), default=4)
    sp.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    sp.add_argument("--subset", type=whole(0), default=0, help="first N training images (0 = all)")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0), or a usage error already reported in one line (2)
        return e.code if isinstance(e.code, int) else 0
    try:
        settings()  # a bad DAE_* variable stops every command here, in one line
        if getattr(args, "run_dir", None):
            args.fn = cmd_train_run_dir
        elif getattr(args, "ray", False):
            args.fn = cmd_train_ray
        hint = f"continue it with --resume {args.out}, " if args.command == "train" and not args.resume else ""
        refuse_existing(getattr(args, "out", None), getattr(args, "overwrite", False), hint)
        result, text = args.fn(args)
    except DaeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller batch size or subset", file=sys.stderr)
        return 2
    print(json.dumps(result, default=float) if args.json else text)
    return 0
