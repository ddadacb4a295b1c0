"""Sample quality of every shipped autoencoder under every latent sampler, judged by the digit classifier.

    python benchmarks/bench_samples.py [--n 1000] [--seed 0] [--classifier checkpoints/classifiers/mnist-cnn.pt] [--json]

One row per (checkpoint, sampler), each scoring n decoded samples: recognised = share whose max
softmax >= 0.9; entropy = of the predicted-class histogram in bits (log2 10 = 3.32 is perfectly
balanced); IS = MNIST Inception Score (1..10); FID = Frechet distance to the 10k test images in
the classifier's penultimate features. A first row scores n real training digits: the best that
n samples can do (FID has a small-sample bias, so it is not 0). Needs train-classifier first.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from dae_core import checkpoint as ckpt_io
from dae_core.analysis.latent import LatentSampler, decode
from dae_core.analysis.pipeline import encode_splits
from dae_core.analysis.quality import reference_stats, score_samples
from dae_core.classifier import load_classifier
from dae_core.data import load_digits
from dae_core.errors import DaeError
from dae_core.paths import CHECKPOINT_DIR

SAMPLERS = ("uniform01", "box", "gaussian", "gmm")


def autoencoders(directory: Path, skip: Path):
    """(name, Checkpoint) for every loadable MNIST autoencoder in `directory`; others are noted."""
    for path in sorted(directory.glob("*.pt")):
        if path.resolve() == skip.resolve():
            continue
        try:
            ckpt = ckpt_io.load(path)
        except DaeError as e:
            print(f"skipped {path.name}: {e}", file=sys.stderr)
            continue
        if ckpt.config.dataset != "mnist":
            print(f"skipped {path.name}: trained on {ckpt.config.dataset}, the classifier knows MNIST",
                  file=sys.stderr)
            continue
        yield path.stem, ckpt


def sample_images(ckpt, kind: str, z_train, n: int, seed: int):
    """n decoded samples (n, 28, 28) from sampler `kind`, fit on the model's training codes."""
    sampler = LatentSampler(kind, seed=seed)
    if kind != "uniform01":
        sampler.fit(z_train)
    return decode(ckpt.model, sampler.sample(n, seed, ckpt.config.latent_dim))


def run(classifier_path: Path, n: int, seed: int, directory: Path) -> list[dict]:
    """One dict per row: checkpoint, sampler, the quality dict's numbers, seconds."""
    clf = load_classifier(classifier_path)
    ref = reference_stats(clf)
    real = load_digits("mnist").train_images[-n:]  # not in the test-set reference
    rows = [{"checkpoint": "(real digits)", "sampler": "-", "seconds": 0.0,
             **score_samples(clf, real, ref)}]
    for name, ckpt in autoencoders(directory, classifier_path):
        z_train = encode_splits(ckpt.model, ckpt.config).z_train
        for kind in SAMPLERS:
            t = time.perf_counter()
            images = sample_images(ckpt, kind, z_train, n, seed)
            q = score_samples(clf, images, ref)
            rows.append({"checkpoint": name, "sampler": kind, "seconds": time.perf_counter() - t, **q})
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'checkpoint':<20} {'sampler':<10} {'recognised':>10} {'entropy':>8} {'IS':>6} {'FID':>8} {'s':>5}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['checkpoint']:<20} {r['sampler']:<10} {r['recognised']:>10.3f} "
                     f"{r['class_entropy_bits']:>8.3f} {r['inception_score']:>6.2f} "
                     f"{r['frechet_distance']:>8.2f} {r['seconds']:>5.1f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classifier", type=Path, default=CHECKPOINT_DIR / "classifiers" / "mnist-cnn.pt")
    p.add_argument("--checkpoints", type=Path, default=CHECKPOINT_DIR)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    try:
        rows = run(args.classifier, args.n, args.seed, args.checkpoints)
    except DaeError as e:
        sys.exit(f"error: {e}")
    print(json.dumps(rows) if args.json else format_table(rows))


if __name__ == "__main__":
    main()
