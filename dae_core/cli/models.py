"""The command line's commands that use a trained model: evaluate, cluster, generate and denoise.
Each returns (result, text): what --json prints, and the plain report. A file is written
atomically, and never over an existing one unless asked (--overwrite)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dae_core import checkpoint as ckpt_io
from dae_core.errors import DaeError


def cmd_evaluate(args) -> tuple[dict, str]:
    from dae_core.evaluate import evaluate

    ckpt = ckpt_io.load(args.checkpoint)
    result = evaluate(ckpt.model, ckpt.config)
    if args.save_metrics:
        ckpt_io.with_metrics(args.checkpoint, {k: result[k] for k in ("val_mse", "val_psnr",
                                                                          "test_mse", "test_psnr")})
    return (result, "\n".join(f"{k}: {v}" for k, v in result.items()))


def cmd_cluster(args) -> tuple[dict, str]:
    from dae_core.analysis.latent import class_dims_of
    from dae_core.analysis.pipeline import cluster_codes, encode_splits, summarize

    ckpt = ckpt_io.load(args.checkpoint)
    say = (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr, flush=True))
    say("encoding the training and test images...")
    codes = encode_splits(ckpt.model, ckpt.config)
    say(f"  {len(codes.z_train)} training and {len(codes.z_test)} test codes in {codes.seconds:.1f}s")
    runs = []
    for i in range(args.seeds):
        stage, progress = _cluster_steps(say, len(codes.z_train), f"seed {args.seed + i}: " if args.seeds > 1 else "")
        runs.append(cluster_codes(codes, args.k, args.method, args.seed + i, progress=progress, stage=stage,
                                  class_dims=class_dims_of(ckpt.model)))
    result = {**runs[0].to_dict(), "encode_seconds": codes.seconds, "n_train": len(codes.z_train)}
    if args.seeds > 1:
        result["over_seeds"] = {"seeds": args.seeds, **summarize(runs)}
    if args.save_metrics:
        card = {f"{args.method}_accuracy": runs[0].train.accuracy, f"{args.method}_nmi": runs[0].train.nmi}
        if runs[0].test is not None:
            card[f"{args.method}_test_accuracy"] = runs[0].test.accuracy
        ckpt_io.with_metrics(args.checkpoint, card)
    return (result, _cluster_text(args, runs, len(codes.z_train), result.get("over_seeds")))


def _cluster_steps(say, n_train: int, prefix: str):
    """stage(step) and progress(step, seconds) for cluster_codes: a line on stderr per step."""
    from dae_core.analysis.cluster import STEPS

    def stage(step: str) -> None:
        what = STEPS.get(step, "assigning the test codes to the clusters")
        say(f"{prefix}{what} ({n_train} points, the slow step)..." if step == "umap" else f"{prefix}{what}...")

    return stage, lambda step, seconds: say(f"{prefix}done in {seconds:.1f}s")


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


def cmd_generate(args) -> tuple[dict, str]:
    from dae_core.analysis.dials import fit_sampler
    from dae_core.analysis.latent import LatentSampler, decode
    from dae_core.analysis.pipeline import encode_splits

    ckpt = ckpt_io.load(args.checkpoint)
    if args.style_sweeps:
        return _style_sweeps(args, ckpt)
    classifier = _score_classifier(args.score_with, ckpt.config.dataset) if args.score_with else None
    sampler = LatentSampler(args.sampler)  # fitted as the app fits it: on the training split's codes
    if args.sampler != "uniform01":
        sampler = fit_sampler(ckpt.model, encode_splits(ckpt.model, ckpt.config).z_train, args.sampler)
    images = decode(ckpt.model, sampler.sample(args.n, args.seed, ckpt.config.latent_dim))
    _write_images(Path(args.out), images, args.overwrite)
    result = {"out": str(args.out), "shape": list(images.shape), "sampler": args.sampler}
    text = f"wrote {images.shape[0]} digits from the {args.sampler} sampler to {args.out}"
    if classifier is not None:
        from dae_core.analysis.quality import score_samples

        q = result["quality"] = score_samples(classifier, images)
        fid = "n/a" if q["frechet_distance"] is None else f"{q['frechet_distance']:.2f}"
        text += (f"\nrecognised {q['recognised']:.3f}  class entropy {q['class_entropy_bits']:.3f} bits"
                 f"  IS {q['inception_score']:.3f}  FID {fid}")
    return (result, text)


def _style_sweeps(args, ckpt) -> tuple[dict, str]:
    """`generate --style-sweeps N`: (N, steps, 28, 28) images, a row per swept style coordinate."""
    from dae_core.analysis.dials import parts_of, style_sweeps
    from dae_core.analysis.pipeline import encode_splits

    parts_of(ckpt.model)  # refuses a model without a style part before the slow encoding
    sweeps = style_sweeps(ckpt.model, encode_splits(ckpt.model, ckpt.config).z_train, args.style_sweeps,
                          args.steps, args.seed)
    _write_images(Path(args.out), sweeps, args.overwrite)
    result = {"out": str(args.out), "shape": list(sweeps.shape), "style_dims": ckpt.model.style_dims}
    if args.score_with:
        from dae_core.analysis.quality import top_class

        digit, _ = top_class(_score_classifier(args.score_with, ckpt.config.dataset),
                             sweeps.reshape(-1, 28, 28))
        digit = digit.reshape(sweeps.shape[:2])
        result["same_digit"] = float((digit == digit[:, :1]).all(axis=1).mean())
    text = f"wrote {len(sweeps)} style sweeps of {args.steps} steps to {args.out}"
    if "same_digit" in result:
        text += f"\nthe classifier reads one digit along {result['same_digit']:.1%} of the sweeps"
    return (result, text)


def _write_images(path: Path, images: np.ndarray, overwrite: bool) -> None:
    """Write (N, 28, 28) images to exactly `path`: a .png grid (as the app shows) or a .npy array."""
    from dae_core.figures import grid_image
    from dae_core.images import to_png

    if path.suffix not in (".png", ".npy"):
        raise DaeError(f"--out must end in .png (an image grid) or .npy (an array), got {path.name!r}")
    if path.suffix == ".png":
        # (N, S, 28, 28) sweeps: one row each; (N, 28, 28) digits: a square grid.
        nrow = images.shape[1] if images.ndim == 4 else min(len(images), int(np.ceil(len(images) ** 0.5)))
        png = to_png(grid_image(images.reshape(-1, 28, 28), nrow=nrow, scale=2))
        ckpt_io.write_file(path, lambda f: f.write(png), overwrite)
    else:  # np.save(f), not np.save(path), which would add ".npy" to a name without it
        ckpt_io.write_file(path, lambda f: np.save(f, images), overwrite)


def _score_classifier(path: str, dataset: str):
    from dae_core.classifier import load_classifier

    if dataset != "mnist":
        raise DaeError(f"--score-with judges MNIST digits; this model was trained on {dataset}")
    return load_classifier(path)


def cmd_denoise(args) -> tuple[dict, str]:
    from dae_core.analysis.denoise import corrupt_and_reconstruct
    from dae_core.images import load_digit, to_png

    ckpt = ckpt_io.load(args.checkpoint)
    strength = ckpt.config.noise_strength if args.strength is None else args.strength
    out = corrupt_and_reconstruct(ckpt.model, load_digit(args.image), args.noise, strength, args.seed)
    png = to_png(out.x_hat[0], args.scale)
    ckpt_io.write_file(args.out, lambda f: f.write(png), args.overwrite)
    mse = float(out.mse[0])
    return ({"out": str(args.out), "mse_to_input": mse, "noise": args.noise},
          f"wrote {args.out} (MSE to the clean input {mse:.5f})")




def cmd_refit_decoder(args) -> tuple[dict, str]:
    from dae_core.refit import refit_decoder
    from dae_core.train import prepare_data

    ckpt = ckpt_io.load(args.checkpoint)
    state = ckpt_io.to_state(ckpt)
    data = prepare_data(state.config, state.device)
    for s in refit_decoder(state, data, args.epochs, args.lr, args.augment, args.fresh, args.seed):
        print(f"epoch {s.epoch}: train {s.train_loss:.5f}  val {s.val_loss:.5f}  {s.seconds:.1f}s",
              file=sys.stderr)
    recipe = {"refit_from": Path(args.checkpoint).stem, "refit_epochs": args.epochs,
              "refit_lr": args.lr, "refit_augment": args.augment, "refit_fresh": args.fresh}
    card = {k: v for k, v in ckpt.metrics.items() if "mse" not in k and "psnr" not in k}
    val = state.history[-1]["val_loss"]  # the codes are unchanged: the clustering scores still hold
    ckpt_io.save(ckpt_io.to_payload(state, {**card, "val_mse": val, **recipe}), args.out,
                 overwrite=args.overwrite)
    return ({"checkpoint": str(args.out), **recipe, "val_mse": val},
            f"saved {args.out}; val MSE {val:.5f}")
