"""Slow analyses as jobs: a spec (plain JSON) names one and its job; `dae analyse --spec`
(dae_core.cli.analyse) computes it in the job's process into the result cache, where every
asker finds it.

    {"kind": "clustering", "checkpoint": PATH, "k": 10, "method": "umap-gmm", "seed": 0}
    {"kind": "map", "checkpoint": PATH, "projection": "umap" | "tsne", "n": null | 2000, "seed": 0}
    {"kind": "quality", "checkpoint": PATH, "sampler": "gmm", "n": 1000, "seed": 0}
"""
from __future__ import annotations

import hashlib
import json

from dae_core.errors import DaeError

KINDS = ("clustering", "map", "quality")


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
