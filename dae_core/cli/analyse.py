"""`dae analyse --spec JSON`: what an analysis job runs. It computes one analysis spec
(dae_core.serve.analyses) into the result cache, where the pages that asked for it find it.

A clustering or a map of a model whose codes the cache holds needs no model: named by its
fingerprint, it reads the codes alone, and the job's process never loads PyTorch (seconds of
CPU and hundreds of MiB less per job)."""
from __future__ import annotations

import json

from dae_core import store
from dae_core.analysis.embed import MAP, map_2d, map_params
from dae_core.analysis.latent import class_dims_of, fitted_sampler
from dae_core.analysis.pipeline import CODES, clustered, encoded
from dae_core.errors import DaeError
from dae_core.serve.analyses import check
from dae_core.serve.jobs import yield_to_the_server


def cmd_analyse(args) -> tuple[dict, str]:
    """Compute one analysis spec (JSON) into the result cache."""
    try:
        spec = json.loads(args.spec)
    except ValueError:
        raise DaeError("--spec must be a JSON object") from None
    yield_to_the_server()
    text = compute(spec)
    return {"spec": spec, "report": text}, text


def add_command(command) -> None:
    """`analyse` on the parser's subcommands (`command` as cli.build_parser makes them)."""
    sp = command("analyse", cmd_analyse, "compute one analysis into the result cache (run by the app's jobs)",
                 checkpoint=False)
    sp.add_argument("--spec", required=True, help="the analysis as a JSON object: its kind (clustering, map or quality), "
                    "the checkpoint and the settings")


def compute(spec: dict) -> str:
    """Compute the analysis and keep it in the result cache -> a one-line report."""
    spec = check(spec)
    fp, class_dims, ck = spec.get("model"), spec.get("class_dims"), None
    codes = store.get(CODES, fp, {}) if fp and spec["kind"] != "quality" else None
    if codes is None:  # not cached, or a sample-quality score, which runs the model: load it
        from dae_core import checkpoint as ckpt_io

        ck = ckpt_io.load(spec["checkpoint"])
        fp, class_dims = store.fingerprint(ck.model, ck.config), class_dims_of(ck.model)
        codes = encoded(ck.model, ck.config, fp)
    if spec["kind"] == "clustering":
        result = clustered(codes, fp, int(spec["k"]), spec["method"], int(spec["seed"]), class_dims=class_dims)
        return f"{spec['method']} k={spec['k']} seed {spec['seed']}: accuracy {result.train.accuracy:.4f}"
    if spec["kind"] == "map":
        return _map(spec, fp, codes)
    return _quality(spec, fp, codes, ck)


def _map(spec, fp, codes) -> str:
    z, n, seed = codes.z_train, spec.get("n"), int(spec["seed"])
    params = map_params(spec["projection"], len(z), None if n is None else int(n), seed)
    store.get_or_compute(MAP, fp, params, lambda: map_2d(z, spec["projection"], params["n"], seed))
    return f"{spec['projection']} map of {params['n']} codes"


def _quality(spec, fp, codes, ck) -> str:
    from dae_core.analysis import quality
    from dae_core.classifier import load_classifier

    clf, sha = load_classifier(quality.CLASSIFIER), store.file_sha256(quality.CLASSIFIER)
    kind, n, seed = spec["sampler"], int(spec["n"]), int(spec["seed"])

    def score() -> dict:
        sampler = fitted_sampler(kind, fp, lambda: codes.z_train, class_dims=class_dims_of(ck.model))
        return quality.sample_quality(ck.model, ck.config.latent_dim, sampler, clf,
                                      quality.reference_of(clf, sha), n, seed)

    found = store.get_or_compute(quality.QUALITY, fp, quality.quality_params(kind, n, seed, sha), score)
    return f"{kind}: {found['recognised']:.1%} recognised"
