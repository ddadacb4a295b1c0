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


def compute(spec: dict) -> str:
    """Compute the analysis and keep it in the result cache -> a one-line report."""
    from dae_core import checkpoint as ckpt_io
    from dae_core import store
    from dae_core.analysis.pipeline import encoded

    spec = check(spec)
    ck = ckpt_io.load(spec["checkpoint"])
    fp = store.fingerprint(ck.model, ck.config)
    codes = encoded(ck.model, ck.config, fp)
    if spec["kind"] == "clustering":
        return _clustering(spec, fp, codes)
    if spec["kind"] == "map":
        return _map(spec, fp, codes)
    return _quality(spec, fp, codes, ck)


def _clustering(spec, fp, codes) -> str:
    from dae_core.analysis.pipeline import clustered

    result = clustered(codes, fp, int(spec["k"]), spec["method"], int(spec["seed"]))
    return f"{spec['method']} k={spec['k']} seed {spec['seed']}: accuracy {result.train.accuracy:.4f}"


def _map(spec, fp, codes) -> str:
    from dae_core import store
    from dae_core.analysis.embed import MAP, map_2d, map_params

    z, n, seed = codes.z_train, spec.get("n"), int(spec["seed"])
    params = map_params(spec["projection"], len(z), None if n is None else int(n), seed)
    store.get_or_compute(MAP, fp, params, lambda: map_2d(z, spec["projection"], params["n"], seed))
    return f"{spec['projection']} map of {params['n']} codes"


def _quality(spec, fp, codes, ck) -> str:
    from dae_core import store
    from dae_core.analysis.latent import fitted_sampler
    from dae_core.analysis.quality import (CLASSIFIER, QUALITY, quality_params, reference_of,
                                           sample_quality)
    from dae_core.classifier import load_classifier

    clf, sha = load_classifier(CLASSIFIER), store.file_sha256(CLASSIFIER)
    kind, n, seed = spec["sampler"], int(spec["n"]), int(spec["seed"])

    def score() -> dict:
        sampler = fitted_sampler(kind, fp, lambda: codes.z_train)
        return sample_quality(ck.model, ck.config.latent_dim, sampler, clf, reference_of(clf, sha),
                              n, seed)

    quality = store.get_or_compute(QUALITY, fp, quality_params(kind, n, seed, sha), score)
    return f"{kind}: {quality['recognised']:.1%} recognised"
