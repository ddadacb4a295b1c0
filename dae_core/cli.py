"""The command line: python -m dae_core train | evaluate | cluster | generate | denoise | refine
| train-classifier. It parses arguments and calls the functions the app calls."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt_io
from .config import PRESETS, ConfigError, TrainConfig, preset
from .errors import DaeError
from .latent import DEFAULT_SAMPLER


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per TrainConfig field, typed from its default; unset flags stay None."""
    group = parser.add_argument_group("training configuration (defaults: the reference run)")
    for f in dataclasses.fields(TrainConfig):
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default),
                           default=None, help=f"default {f.default!r}")


def _config_from_args(args) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
            if getattr(args, f.name) is not None}


def _emit(args, result: dict, text: str) -> None:
    print(json.dumps(result, default=float) if args.json else text)


def _follow(state, events, epochs: int, on_epoch=None):
    """Draw the engine's events as a progress bar on stderr; returns the Stopped event, if any."""
    from tqdm import tqdm

    from .train import BatchStats, EpochStats, Stopped

    bar, first, stopped = tqdm(unit="batch", file=sys.stderr, disable=None), state.epochs_done, None
    for event in events:
        if isinstance(event, BatchStats):
            bar.total = epochs * event.n_batches
            bar.n = (event.epoch - first - 1) * event.n_batches + event.batch
            bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.4f}", refresh=False)
            bar.refresh()
        elif isinstance(event, EpochStats):
            if on_epoch is not None:
                on_epoch(event)
            scores = f"val {event.val_loss:.5f}" + ("" if event.val_accuracy is None
                                                    else f"  accuracy {event.val_accuracy:.4f}")
            bar.write(f"epoch {event.epoch}: train {event.train_loss:.5f}  {scores}  {event.seconds:.2f}s",
                      file=sys.stderr)
        elif isinstance(event, Stopped):
            stopped = event
    bar.close()
    return stopped


def cmd_train(args) -> None:
    from .train import fit, new_state, prepare_data

    given = _config_from_args(args)
    if args.resume:
        ckpt = ckpt_io.load(args.resume)
        fixed = {k: v for k, v in given.items() if k not in ("epochs", "device")}
        changed = [k for k, v in fixed.items() if getattr(ckpt.config, k) != v]
        if changed or args.preset:
            raise ConfigError(f"cannot change {', '.join(changed) or 'the preset'} when resuming; "
                              f"only --epochs and --device apply")
        state = ckpt_io.to_state(ckpt, given.get("device"))
        epochs = given.get("epochs", ckpt.config.epochs)
        TrainConfig(epochs=epochs)  # validates the number of extra epochs
        out = Path(args.out or args.resume)
    else:
        state = new_state(preset(args.preset or "reference", **given))
        epochs = state.config.epochs
        out = Path(args.out or ckpt_io.CHECKPOINT_DIR / "runs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.pt")
        if out.exists() and not args.overwrite:
            raise DaeError(f"{out} already exists: continue it with --resume {out}, choose another "
                           f"--out, or replace it with --overwrite")
    # Saved after every finished epoch, atomically: a killed run keeps its last epoch.
    if args.ray:
        handle = _submit(state, epochs, args.resume is not None)
        stopped = _follow(state, _job_events(handle), epochs, lambda e: ckpt_io.save(handle.payload, out))
        state.history = handle.history
    else:
        events = fit(state, prepare_data(state.config, state.device), epochs)
        stopped = _follow(state, events, epochs, lambda e: ckpt_io.save_state(state, out, {"val_mse": e.val_loss}))
    if stopped is not None and stopped.reason == "diverged":
        raise DaeError(f"training diverged: {stopped.message}")
    result = {"checkpoint": str(out), "config": state.config.to_dict(), "history": state.history}
    last = state.history[-1] if state.history else {}
    _emit(args, result, f"saved {out} after {len(state.history)} epochs; "
                        f"val MSE {last.get('val_loss', float('nan')):.5f}")


def _submit(state, epochs: int, resume: bool):
    """Queue the run on Ray (local, or $RAY_ADDRESS) -> its jobs.RunHandle."""
    from . import jobs
    from .runs import RunRequest

    payload = ckpt_io.to_payload(state) if resume else None
    handle = jobs.submit(RunRequest(state.config.to_dict(), epochs, resume=payload))
    print(f"run {handle.run_id} queued on {jobs.describe_cluster()}", file=sys.stderr)
    return handle


def _job_events(handle, poll_s: float = 0.25):
    """The engine's events, rebuilt from a Ray run's polls, for _follow; Ctrl-C stops the run."""
    from .train import EpochStats, Stopped

    epochs_seen, last = len(handle.history), None
    try:
        while handle.active:
            handle.refresh()
            if handle.last_batch is not None and handle.last_batch != last:
                last = handle.last_batch
                yield last
            for h in handle.history[epochs_seen:]:
                yield EpochStats(**h)
            epochs_seen = len(handle.history)
            time.sleep(poll_s)
    except KeyboardInterrupt:
        handle.stop()
        handle.wait(60)
    if handle.status == "failed":
        raise DaeError(f"training failed: {handle.message}")
    if handle.status in ("stopped", "diverged"):
        yield Stopped(handle.status, handle.message, epochs_seen)


def cmd_evaluate(args) -> None:
    from .evaluate import evaluate

    ckpt = ckpt_io.load(args.checkpoint)
    result = evaluate(ckpt.model, ckpt.config)
    if args.save_metrics:
        ckpt_io.with_metrics(args.checkpoint, {k: result[k] for k in ("val_mse", "val_psnr",
                                                                          "test_mse", "test_psnr")})
    _emit(args, result, "\n".join(f"{k}: {v}" for k, v in result.items()))


def cmd_cluster(args) -> None:
    from .pipeline import cluster_codes, encode_splits, summarize

    ckpt = ckpt_io.load(args.checkpoint)
    codes = encode_splits(ckpt.model, ckpt.config)
    progress = (lambda step, s: print(f"{step}: {s:.1f}s", file=sys.stderr)) if not args.json else None
    runs = [cluster_codes(codes, args.k, args.method, args.seed + i, progress=progress)
            for i in range(args.seeds)]
    result = {**runs[0].to_dict(), "encode_seconds": codes.seconds, "n_train": len(codes.z_train)}
    if args.seeds > 1:
        result["over_seeds"] = {"seeds": args.seeds, **summarize(runs)}
    if args.save_metrics:
        card = {f"{args.method}_accuracy": runs[0].train.accuracy, f"{args.method}_nmi": runs[0].train.nmi}
        if runs[0].test is not None:
            card[f"{args.method}_test_accuracy"] = runs[0].test.accuracy
        ckpt_io.with_metrics(args.checkpoint, card)
    _emit(args, result, _cluster_text(args, runs, len(codes.z_train), result.get("over_seeds")))


def _cluster_text(args, runs, n_train: int, spread: dict | None) -> str:
    """The plain-text report of `cluster`: the first seed's scores (train and test), the spread."""
    first = runs[0]
    lines = [f"{args.method} k={args.k} on {n_train} training codes (seed {args.seed}): accuracy "
             f"{first.train.accuracy:.4f}  NMI {first.train.nmi:.4f}  ARI {first.train.ari:.4f}"]
    if first.test is not None:
        lines.append(f"test codes: accuracy {first.test.accuracy:.4f}  NMI {first.test.nmi:.4f}  "
                     f"ARI {first.test.ari:.4f}")
    if spread:
        for split in ("train", "test"):
            if f"{split}_accuracy_mean" in spread:
                lines.append(f"{split} over {len(runs)} seeds: " + "  ".join(
                    f"{name} {spread[f'{split}_{key}_mean']:.4f} ± {spread[f'{split}_{key}_std']:.4f}"
                    for key, name in (("accuracy", "accuracy"), ("nmi", "NMI"), ("ari", "ARI"))))
    lines.append(f"cluster -> digit: {first.train.mapping}")
    return "\n".join(lines)


def cmd_generate(args) -> None:
    from .latent import LatentSampler, decode
    from .pipeline import encode_splits

    ckpt = ckpt_io.load(args.checkpoint)
    if args.n < 1 or args.n > 100_000:
        raise DaeError(f"--n must be between 1 and 100000, got {args.n}")
    classifier = _score_classifier(args.score_with, ckpt.config.dataset) if args.score_with else None
    sampler = LatentSampler(args.sampler)  # fitted as the app fits it: on the training split's codes
    if args.sampler != "uniform01":
        sampler.fit(encode_splits(ckpt.model, ckpt.config).z_train)
    images = decode(ckpt.model, sampler.sample(args.n, args.seed, ckpt.config.latent_dim))
    _write_images(Path(args.out), images)
    result = {"out": str(args.out), "shape": list(images.shape), "sampler": args.sampler}
    text = f"wrote {images.shape[0]} digits from the {args.sampler} sampler to {args.out}"
    if classifier is not None:
        from .quality import score_samples

        q = result["quality"] = score_samples(classifier, images)
        fid = "n/a" if q["frechet_distance"] is None else f"{q['frechet_distance']:.2f}"
        text += (f"\nrecognised {q['recognised']:.3f}  class entropy {q['class_entropy_bits']:.3f} bits"
                 f"  IS {q['inception_score']:.3f}  FID {fid}")
    _emit(args, result, text)


def _write_images(path: Path, images: np.ndarray) -> None:
    """Write (N, 28, 28) images to exactly `path`: a .png grid (as the app shows) or a .npy array."""
    from .figures import grid_image
    from .images import to_png

    if path.suffix not in (".png", ".npy"):
        raise DaeError(f"--out must end in .png (an image grid) or .npy (an array), got {path.name!r}")
    try:
        if path.suffix == ".png":
            path.write_bytes(to_png(grid_image(images, nrow=min(len(images), int(np.ceil(len(images) ** 0.5))),
                                               scale=2)))
        else:
            with open(path, "wb") as f:  # np.save(path) would add ".npy" to a name without it
                np.save(f, images)
    except OSError as e:
        raise DaeError(f"cannot write {path}: {e.strerror or e}") from None


def _score_classifier(path: str, dataset: str):
    from .classifier import load_classifier

    if dataset != "mnist":
        raise DaeError(f"--score-with judges MNIST digits; this model was trained on {dataset}")
    return load_classifier(path)


def cmd_denoise(args) -> None:
    from .denoise import corrupt_and_reconstruct
    from .images import load_digit, to_png

    ckpt = ckpt_io.load(args.checkpoint)
    strength = ckpt.config.noise_strength if args.strength is None else args.strength
    out = corrupt_and_reconstruct(ckpt.model, load_digit(args.image), args.noise, strength, args.seed)
    try:
        Path(args.out).write_bytes(to_png(out.x_hat[0], args.scale))
    except OSError as e:
        raise DaeError(f"cannot write {args.out}: {e.strerror or e}") from None
    mse = float(out.mse[0])
    _emit(args, {"out": str(args.out), "mse_to_input": mse, "noise": args.noise},
          f"wrote {args.out} (MSE to the clean input {mse:.5f})")


def cmd_refine(args) -> None:
    from .refine import RoundStart, refine
    from .train import prepare_data

    ckpt = ckpt_io.load(args.checkpoint)
    state = ckpt_io.to_state(ckpt)
    data = prepare_data(state.config, state.device)
    methods = tuple(args.methods.split(","))
    for event in refine(state, data, args.k, args.rounds, args.epochs, methods, args.threshold,
                        args.weight, args.augment, args.seed, agreement=args.agreement,
                        invariant=args.invariant):
        if isinstance(event, RoundStart):
            print(f"round {event.round}: {event.method} pseudo-labels, {event.confident:.1%} trusted",
                  file=sys.stderr)
        else:
            print(f"round {event.round} epoch {event.epoch}: recon {event.recon_loss:.5f} "
                  f"val {event.val_loss:.5f} ce {event.ce_loss:.4f} {event.seconds:.1f}s", file=sys.stderr)
    recipe = {"refined_from": Path(args.checkpoint).stem, "refine_rounds": args.rounds,
              "refine_epochs": args.epochs, "refine_methods": args.methods,
              "refine_weight": args.weight, "refine_augment": args.augment,
              "refine_invariant": args.invariant}
    ckpt_io.save_state(state, args.out, {"val_mse": state.history[-1]["val_loss"], **recipe})
    _emit(args, {"checkpoint": str(args.out), **recipe, "history": state.history},
          f"saved {args.out}; val MSE {state.history[-1]['val_loss']:.5f}")


def cmd_train_classifier(args) -> None:
    from .classifier import classifier_config, save_classifier, train_classifier

    t0 = time.perf_counter()
    state, events = train_classifier(classifier_config(args.epochs, args.seed, args.subset))
    stopped = _follow(state, events, args.epochs)
    if stopped is not None and stopped.reason == "diverged":
        raise DaeError(f"training diverged: {stopped.message}")
    metrics = {"test_accuracy": state.history[-1]["val_accuracy"], "train_seconds": time.perf_counter() - t0,
               "epochs": args.epochs, "seed": args.seed, "train_subset": args.subset}
    out = save_classifier(state.model.eval(), args.out, metrics, state.history, state.config)
    _emit(args, {"checkpoint": str(out), **metrics, "history": state.history},
          f"saved {out}; test accuracy {metrics['test_accuracy']:.4f} ({metrics['train_seconds']:.0f}s)")


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
        args.fn(args)
    except DaeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller batch size or subset", file=sys.stderr)
        return 2
    return 0
