"""Write the result-cache entries shipped with the app (checkpoints/cache/): the slow results of
the shipped models, so that a fresh server opens them in seconds.

    python benchmarks/ship_cache.py [--out checkpoints/cache] [--umap-seeds 1] [--quick] [--models NAME ...]

For every shipped checkpoint: its codes (1-2 MB: a first visit then neither loads MNIST nor
encodes 58k images), its Generate page's default sampler (the 40-component mixture, a few KB) and
its t-SNE map (seed 0). For cluster-d10-refined, also: UMAP + GMM with k=10 (seeds
0..--umap-seeds-1; one to several minutes each on two cores) and its UMAP map. For a split model
(split-d22): its sampler of one Gaussian per class of its digit part, k-means (k=10, seed 0) of
that part and its UMAP map. Once: the shipped
digit classifier's statistics of the 10k test digits (the reference of every FID). --quick writes
only the codes, samplers and the classifier's statistics (a minute), not the maps and
clusterings. Entries are keyed by the model's weights and config, so re-run this after retraining
or re-saving a shipped model.
"""
import argparse
import time
from pathlib import Path

from dae_core import checkpoint, store
from dae_core.analysis import embed
from dae_core.analysis.embed import MAP, map_params
from dae_core.analysis.latent import SAMPLER, LatentSampler, class_dims_of, sampler_params
from dae_core.analysis.pipeline import CLUSTERING, CODES, cluster_codes, clustering_params, encode_splits
from dae_core.analysis.quality import CLASSIFIER, REFERENCE, reference_stats
from dae_core.classifier import load_classifier
from dae_core.paths import CHECKPOINT_DIR
from dae_core.store.disk import SHIPPED_DIR

UMAP_MODELS = ("cluster-d10-refined",)  # the shipped models whose best clustering is UMAP + GMM


def ship(path: Path, out: Path, umap_seeds: int, quick: bool) -> None:
    ck = checkpoint.load(path)
    fp = store.fingerprint(ck.model, ck.config)
    codes = store.get(CODES, fp, {}, [out])  # kept as it is: rewritten, a file would change
    if codes is None:
        codes = encode_splits(ck.model, ck.config)
        store.put(CODES, fp, {}, codes, out)
    class_dims = class_dims_of(ck.model)
    sampler = LatentSampler("gmm", class_dims=class_dims).fit(codes.z_train)
    store.put(SAMPLER, fp, sampler_params(sampler), sampler, out)
    if quick:
        return
    n = len(codes.z_train)
    if class_dims:  # a split model: the Cluster page's first view, k-means of its digit part
        result = cluster_codes(codes, 10, "kmeans", 0, class_dims=class_dims)
        store.put(CLUSTERING, fp, clustering_params(codes, "kmeans", 10, 0, class_dims), result, out)
        print(f"{path.stem}: kmeans of the digit part, accuracy {result.train.accuracy:.4f}", flush=True)
    t = time.perf_counter()
    store.put(MAP, fp, map_params("tsne", n, 2000, 0), embed.tsne_2d(codes.z_train, 2000, 0), out)
    print(f"{path.stem}: t-SNE map {time.perf_counter() - t:.1f} s", flush=True)
    if path.stem not in UMAP_MODELS and not class_dims:
        return
    for seed in range(umap_seeds if path.stem in UMAP_MODELS else 0):
        result = cluster_codes(codes, 10, "umap-gmm", seed)
        store.put(CLUSTERING, fp, clustering_params(codes, "umap-gmm", 10, seed), result, out)
        print(f"{path.stem}: umap-gmm seed {seed} accuracy {result.train.accuracy:.4f} "
              f"(test {result.test.accuracy:.4f}), {sum(result.seconds.values()):.1f} s", flush=True)
    t = time.perf_counter()
    store.put(MAP, fp, map_params("umap", n, None, 0), embed.map_2d(codes.z_train, "umap", None, 0), out)
    print(f"{path.stem}: UMAP map {time.perf_counter() - t:.1f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=SHIPPED_DIR)
    p.add_argument("--umap-seeds", type=int, default=1, help="seeds 0..N-1 of umap-gmm")
    p.add_argument("--quick", action="store_true", help="no maps or clusterings")
    p.add_argument("--models", nargs="*", help="only these shipped models (names without .pt)")
    args = p.parse_args()
    for path in sorted(CHECKPOINT_DIR.glob("*.pt")):
        if not args.models or path.stem in args.models:
            ship(path, args.out, args.umap_seeds, args.quick)
    store.put(REFERENCE, None, {"classifier": store.file_sha256(CLASSIFIER)},
              reference_stats(load_classifier(CLASSIFIER)), args.out)


if __name__ == "__main__":
    main()
