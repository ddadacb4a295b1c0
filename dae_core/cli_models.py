"""The command line's commands that use a trained model: evaluate, cluster, generate and denoise.
Each returns (result, text): what --json prints, and the plain report."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt_io
from .errors import DaeError


def cmd_evaluate(args) -> tuple[dict, str]:
    from .evaluate import evaluate

    ckpt = ckpt_io.load(args.checkpoint)
    result = evaluate(ckpt.model, ckpt.config)
    if args.save_metrics:
        ckpt_io.with_metrics(args.checkpoint, {k: result[k] for k in ("val_mse", "val_psnr",
                                                                          "test_mse", "test_psnr")})
    return (result, "\n".join(f"{k}: {v}" for k, v in result.items()))


def cmd_cluster(args) -> tuple[dict, str]:
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
    return (result, _cluster_text(args, runs, len(codes.z_train), result.get("over_seeds")))


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
    return (result, text)


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


def cmd_denoise(args) -> tuple[dict, str]:
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
    return ({"out": str(args.out), "mse_to_input": mse, "noise": args.noise},
          f"wrote {args.out} (MSE to the clean input {mse:.5f})")


