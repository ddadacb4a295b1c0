"""Every headline number of one autoencoder, as one JSON object: clustering, reconstruction, samples.

    python benchmarks/bench_best.py --checkpoint checkpoints/cluster-d10-refined.pt [--seeds 0 1 2]
        [--method umap-gmm] [--n 1000] [--classifier checkpoints/classifiers/mnist-cnn.pt]
        [--save-metrics]

- clustering of the training codes with an in-app method (default umap-gmm): accuracy, NMI and
  ARI, mean and spread over the seeds; the test codes scored with each seed's training
  cluster -> digit mapping (pipeline.cluster_codes), as the Cluster page scores them;
- val (and test) MSE at the model's own noise (evaluate.evaluate);
- n digits from the app's default sampler (latent.DEFAULT_SAMPLER, fitted on the training codes
  as the app fits it, seed 0) judged by the digit classifier: share recognised with
  confidence >= 0.9, class entropy in bits, Inception Score, FID to the 10k test digits.

For a split model (`dae train-split`) the clustering is of the class part of the code alone, and
two more scores judge its dials:
- the digit dial: n_dial digits from `cluster:K` for each K (dials.fit_sampler: one Gaussian per
  class the class part names), the share the classifier reads as the digit that class is matched
  to on the training codes, averaged over the ten;
- the style dials: `dae generate --style-sweeps` rows (one code, one style coordinate swept over
  its slider range), the share of rows along which the classifier reads one digit at every step.

--save-metrics records the numbers in the checkpoint's model card (clustering: the seeds' means).
"""
import argparse
import json
import sys
import time

import numpy as np

from dae_core import checkpoint as ckpt_io
from dae_core.analysis.cluster import METHODS
from dae_core.analysis.dials import component_digits, fit_sampler, style_sweeps
from dae_core.analysis.latent import DEFAULT_SAMPLER, decode
from dae_core.analysis.pipeline import cluster_codes, encode_splits, summarize
from dae_core.analysis.quality import score_samples, top_class
from dae_core.classifier import load_classifier
from dae_core.errors import DaeError
from dae_core.evaluate import evaluate


def clustering_scores(codes, method: str, seeds: list[int], class_dims=None) -> dict:
    """Mean / std of train and test accuracy, NMI, ARI over `seeds`, plus each seed's numbers."""
    runs, seconds = [], []
    for seed in seeds:
        t = time.perf_counter()
        runs.append(cluster_codes(codes, 10, method, seed, class_dims=class_dims))
        seconds.append(time.perf_counter() - t)
    per_seed = [{"seed": r.seed, "accuracy": r.train.accuracy, "nmi": r.train.nmi,
                 "test_accuracy": r.test.accuracy, "test_nmi": r.test.nmi} for r in runs]
    return {"method": method, **summarize(runs), "per_seed": per_seed,
            "seconds_per_seed": float(np.mean(seconds))}


def sample_scores(model, z_train, classifier, n: int, seed: int = 0) -> dict:
    """Scores of n digits decoded from the app's default sampler fitted on the training codes."""
    sampler = fit_sampler(model, z_train, DEFAULT_SAMPLER)
    images = decode(model, sampler.sample(n, seed, model.latent_dim))
    q = score_samples(classifier, images)
    return {"sampler": DEFAULT_SAMPLER, "n": n, "recognised": q["recognised"],
            "class_entropy_bits": q["class_entropy_bits"], "inception_score": q["inception_score"],
            "fid": q["frechet_distance"]}


def digit_dial_scores(model, codes, classifier, n: int, seed: int = 0) -> dict:
    """Share of n `cluster:K` digits read as component K's matched digit, per K and on average."""
    sampler = fit_sampler(model, codes.z_train, "cluster:0", seed)
    digits = component_digits(model, sampler, codes.z_train, codes.y_train)
    shares = []
    for k in range(sampler.n_components):
        read, _ = top_class(classifier, decode(model, sampler.restrict(k).sample(n, seed + k)))
        shares.append(float((read == digits.get(k, -1)).mean()))
    return {"n_per_component": n, "matched_share_mean": float(np.mean(shares)),
            "matched_share_min": float(np.min(shares)), "per_component": shares,
            "component_digit": {str(k): v for k, v in digits.items()}}


def style_dial_scores(model, codes, classifier, n: int, steps: int, seed: int = 0) -> dict:
    """Share of n style sweeps along which the classifier reads the same digit at every step."""
    sweeps = style_sweeps(model, codes.z_train, n, steps, seed)
    read, _ = top_class(classifier, sweeps.reshape(-1, 28, 28))
    read = read.reshape(n, steps)
    return {"sweeps": n, "steps": steps, "same_digit": float((read == read[:, :1]).all(axis=1).mean())}


def run(path: str, method: str, seeds: list[int], n: int, classifier_path: str, n_dial: int = 200,
        sweeps: int = 100, steps: int = 9) -> dict:
    """The benchmark's JSON object for one checkpoint; no seeds: no clustering (the slow part)."""
    ckpt = ckpt_io.load(path)
    if ckpt.config.dataset != "mnist":
        raise DaeError(f"the digit classifier judges MNIST; {path} was trained on {ckpt.config.dataset}")
    t0 = time.perf_counter()
    codes = encode_splits(ckpt.model, ckpt.config)
    recon = evaluate(ckpt.model, ckpt.config)
    classifier = load_classifier(classifier_path)
    class_dims = ckpt.parts.get("class")
    clustering = clustering_scores(codes, method, seeds, class_dims) if seeds else None
    out = {"checkpoint": path, "cluster": clustering, "clustered_dims": class_dims or "all",
           "val_mse": recon["val_mse"], "test_mse": recon["test_mse"],
           "samples": sample_scores(ckpt.model, codes.z_train, classifier, n)}
    if class_dims:
        out["digit_dial"] = digit_dial_scores(ckpt.model, codes, classifier, n_dial)
        out["style_dials"] = style_dial_scores(ckpt.model, codes, classifier, sweeps, steps)
    return {**out, "seconds": time.perf_counter() - t0}


def card(result: dict) -> dict:
    """The model-card entries of a result, under the keys the app already names (`dae cluster
    --save-metrics` writes the same ones for one seed); the sample scores as samples_*."""
    out = {"val_mse": result["val_mse"], "test_mse": result["test_mse"],
           "samples_recognised": result["samples"]["recognised"],
           "samples_class_entropy_bits": result["samples"]["class_entropy_bits"],
           "samples_fid": result["samples"]["fid"]}
    if "digit_dial" in result:
        out["digit_dial_matched"] = result["digit_dial"]["matched_share_mean"]
        out["style_sweeps_same_digit"] = result["style_dials"]["same_digit"]
    c = result["cluster"]
    if c is not None:
        m = c["method"]
        out.update({f"{m}_accuracy": c["train_accuracy_mean"], f"{m}_nmi": c["train_nmi_mean"],
                    f"{m}_test_accuracy": c["test_accuracy_mean"], "clustering_seeds": len(c["per_seed"])})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--method", choices=METHODS, default="umap-gmm")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                   help="clustering seeds; none skips clustering (a decoder refit keeps the codes)")
    p.add_argument("--n", type=int, default=1000, help="generated digits to judge")
    p.add_argument("--classifier", default="checkpoints/classifiers/mnist-cnn.pt")
    p.add_argument("--save-metrics", action="store_true", help="write the numbers into the model card")
    args = p.parse_args()
    try:
        result = run(args.checkpoint, args.method, args.seeds, args.n, args.classifier)
        if args.save_metrics:
            ckpt_io.with_metrics(args.checkpoint, card(result))
    except (DaeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
