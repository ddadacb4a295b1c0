"""Slow analyses as jobs: a spec (plain JSON) names one, `dae analyse --spec` computes it in the
job's process and writes it to the result cache, where every asker finds it.

    {"kind": "clustering", "checkpoint": PATH, "k": 10, "method": "umap-gmm", "seed": 0}
    {"kind": "map", "checkpoint": PATH, "projection": "umap" | "tsne", "n": null | 2000, "seed": 0}
    {"kind": "quality", "checkpoint": PATH, "sampler": "gmm", "n": 1000, "seed": 0}
"""
from __future__ import annotations

import hashlib
import json
import logging

from dae_core.errors import DaeError

KINDS = ("clustering", "map", "quality")
log = logging.getLogger(__name__)


def job_id(spec: dict, model: str) -> str:
    """The job's name: the analysis and its model's content (not its file), so that one analysis
    of one model is one job, whichever file or session asks."""
    what = {k: v for k, v in spec.items() if k != "checkpoint"}
    digest = hashlib.sha256(json.dumps([model, what], sort_keys=True).encode()).hexdigest()[:24]
    return f"dae-analysis-{spec['kind']}-{digest}"


def check(spec: object) -> dict:
    """The spec when it is one this module computes; a one-line DaeError otherwise."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS or not isinstance(spec.get("checkpoint"), str):
        raise DaeError(f"an analysis spec is a JSON object with a kind ({', '.join(KINDS)}) and a checkpoint")
    return spec


def codes_of(ck):
    """(fingerprint, Codes) of a loaded checkpoint: from the result cache, else encoded and stored."""
    from dae_core import store
    from dae_core.analysis.pipeline import encode_splits

    fp = store.fingerprint(ck.model, ck.config)
    found = store.load_codes(fp, ck.config.latent_dim)
    if found is None:
        found = encode_splits(ck.model, ck.config)
        store.save_codes(fp, found)
    return fp, found


def compute(spec: dict) -> str:
    """Compute the analysis and store it in the result cache -> a one-line report."""
    from dae_core import checkpoint as ckpt_io

    spec = check(spec)
    ck = ckpt_io.load(spec["checkpoint"])
    fp, codes = codes_of(ck)
    if spec["kind"] == "clustering":
        return _clustering(spec, fp, codes)
    if spec["kind"] == "map":
        return _map(spec, fp, codes)
    return _quality(spec, fp, codes, ck)


def _clustering(spec, fp, codes) -> str:
    from dae_core.analysis.pipeline import cluster_codes
    from dae_core.clustering_store import save_clustering

    result = cluster_codes(codes, int(spec["k"]), spec["method"], int(spec["seed"]))
    save_clustering(fp, codes, result)
    return f"{spec['method']} k={spec['k']} seed {spec['seed']}: accuracy {result.train.accuracy:.4f}"


def _map(spec, fp, codes) -> str:
    from dae_core import store
    from dae_core.analyses import map_2d

    z = codes.z_train
    n = len(z) if spec.get("n") is None else int(spec["n"])
    idx, xy = map_2d(z, spec["projection"], n, int(spec["seed"]))
    store.save_map(fp, spec["projection"], len(z), n, int(spec["seed"]), idx, xy)
    return f"{spec['projection']} map of {n} codes"


def _quality(spec, fp, codes, ck) -> str:
    from dae_core import store
    from dae_core.analyses import sample_quality
    from dae_core.analysis.latent import LatentSampler
    from dae_core.analysis.quality import reference_stats
    from dae_core.classifier import load_classifier

    classifier_path = store.CLASSIFIER
    clf = load_classifier(classifier_path)
    sha = store.file_sha256(classifier_path)
    reference = store.load_reference(sha)
    if reference is None:
        reference = reference_stats(clf)
        store.save_reference(sha, *reference)
    kind = spec["sampler"]
    sampler = LatentSampler(kind)
    if kind != "uniform01":
        found = store.load_sampler(fp, sampler)
        sampler = found if found is not None else sampler.fit(codes.z_train)
        if found is None:
            store.save_sampler(fp, sampler)
    quality = sample_quality(ck.model, ck.config.latent_dim, sampler, clf, reference,
                             int(spec["n"]), int(spec["seed"]))
    store.save_quality(fp, kind, int(spec["n"]), int(spec["seed"]), quality)
    return f"{kind}: {quality['recognised']:.1%} recognised"
