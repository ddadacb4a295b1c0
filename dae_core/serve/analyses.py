"""Slow analyses as jobs: a spec (plain JSON) names one and its job; `dae analyse --spec`
(dae_core.cli.analyse) computes it in the job's process into the result cache, where every
asker finds it.

    {"kind": "clustering", "checkpoint": PATH, "k": 10, "method": "umap-gmm", "seed": 0}
    {"kind": "map", "checkpoint": PATH, "projection": "umap" | "tsne", "n": null | 2000, "seed": 0}
    {"kind": "quality", "checkpoint": PATH, "sampler": "gmm", "n": 1000, "seed": 0}

A clustering or a map may name the model too, "model": its fingerprint (dae_core.store), with
"class_dims": a split model's digit part (null for others): where the cache holds that model's
codes, the job reads them and loads no model.
"""
from __future__ import annotations

import hashlib
import json
import re

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
    if "model" in spec and not (isinstance(spec["model"], str) and re.fullmatch(r"[0-9a-f]{64}", spec["model"])):
        raise DaeError("an analysis spec's model is a fingerprint: 64 hexadecimal digits")
    dims = spec.get("class_dims")
    if dims is not None and not (isinstance(dims, list) and all(type(d) is int and 0 <= d < 4096 for d in dims)):
        raise DaeError("an analysis spec's class_dims is null or a list of code positions")
    return spec
