"""A disk cache of what is slow to recompute for a model: codes, 2-D maps and (through
dae_core.clustering_store) clusterings; and which model a checkpoint file holds.

An entry is one `.npz` file, named by a hash of its key and holding the key itself, so a file
that was renamed, copied to another model's name or left by an older layout is never used. The
key names the model by `fingerprint()` (its weights and config, not its file: re-saving the same
model with new metrics keeps its entries) and every parameter that changes the result;
remember_file notes the fingerprint under the file's sha256, so that the entries of a checkpoint
seen before are found without loading it. Entries are read with allow_pickle=False and checked
(keys, dtypes, shapes, ranges, finite values) before use; anything wrong reads as "no entry",
and the caller recomputes. Files are written to a temporary name and renamed, so a crash never
leaves half an entry.

Entries are looked up in $DAE_CACHE_DIR (default data/cache/, git-ignored), then in the
read-only folder shipped with the app (checkpoints/cache/), which holds the shipped models'
slow results (benchmarks/ship_cache.py writes it). The cache folder holds at most
$DAE_CACHE_MAX_MB megabytes: after each write the least recently used entries go (a read
refreshes an entry's mtime, since atime is often not kept); the shipped folder is never evicted.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from dae_core.bounds import evict_oldest_files
from dae_core.config import ROOT
from dae_core.files import write_atomic
from dae_core.settings import MB, settings

# Bump when the layout of a file or a recipe that changes results (UMAP/GMM settings) changes.
FORMAT = 1
SHIPPED_DIR = ROOT / "checkpoints" / "cache"
_ENTRY_NAME = re.compile(r"[a-z]+-[0-9a-f]{24}\.npz")  # what _file_name writes, and nothing else


def cache_dir() -> Path:
    """Where new entries are written: $DAE_CACHE_DIR, or data/cache/ in the repository."""
    return settings().cache_dir


def _is_shipped(directory: Path) -> bool:
    try:
        return Path(directory).resolve().is_relative_to(SHIPPED_DIR.resolve())
    except OSError:
        return True  # not knowing where a folder is, treat it as one never to change


def evict(directory: str | Path | None = None, max_bytes: int | None = None,
          newest: str | None = None) -> list[Path]:
    """Delete the cache folder's least recently used entries (`newest`, the one just written,
    last) until they take at most max_bytes ($DAE_CACHE_MAX_MB by default); never in the shipped
    folder. Returns the deleted paths."""
    directory = Path(directory) if directory is not None else cache_dir()
    if _is_shipped(directory):
        return []
    if max_bytes is None:
        max_bytes = int(settings().cache_max_mb * MB)
    return evict_oldest_files(directory, max_bytes, _ENTRY_NAME, newest)


def fingerprint(model, config) -> str:
    """sha256 (hex) of a model's weights and buffers (names, dtypes, shapes, bytes) and config."""
    h = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _file_key(path: str | Path) -> dict:
    return {"kind": "file", "sha256": file_sha256(path), "format": FORMAT}


def remember_file(path: str | Path, model: str, directory=None) -> Path | None:
    """Note that the checkpoint file at `path` (by its content) holds the model `model`, so that
    model_of_file finds the model's entries without loading the checkpoint. Writes nothing when
    that note is already there (in `directory`, or by default in either folder)."""
    key = _file_key(path)
    if _noted_model(key, None if directory is None else [Path(directory)]) == model:
        return None
    return save(key, {"model": np.array(model)}, directory)


def model_of_file(path: str | Path, directories=None) -> str | None:
    """The fingerprint remember_file noted for this file's exact bytes, or None. Reads no
    weights: a page can show stored results before PyTorch is imported."""
    try:
        return _noted_model(_file_key(path), directories)
    except OSError:
        return None


def _noted_model(key: dict, directories) -> str | None:
    a = load(key, directories)
    model = str(a.get("model", "")) if a is not None else ""
    return model if re.fullmatch("[0-9a-f]{64}", model) else None


def entry_key(kind: str, model: str, **params) -> dict:
    """The key of one entry: its kind, the model's fingerprint, the format and the parameters."""
    return {"kind": kind, "model": model, "format": FORMAT, **params}


def _file_name(key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return f"{key['kind']}-{digest}.npz"


def save(key: dict, arrays: dict[str, np.ndarray], directory: str | Path | None = None) -> Path | None:
    """Write one entry atomically, then evict the folder's least recently used entries beyond its
    cap; None when nothing was kept (the folder is not writable, or the entry alone is over the cap)."""
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / _file_name(key)
    entry = np.array(json.dumps(key, sort_keys=True))
    try:
        write_atomic(path, lambda f: np.savez_compressed(f, key=entry, **arrays))
    except OSError:
        return None
    return None if path in evict(directory, newest=path.name) else path


def load(key: dict, directories: list[Path] | None = None,
         names: tuple[str, ...] | None = None) -> dict[str, np.ndarray] | None:
    """The arrays (only those in `names`, when given) of the first readable entry with exactly
    this key, or None."""
    for directory in directories if directories is not None else [cache_dir(), SHIPPED_DIR]:
        path = Path(directory) / _file_name(key)
        if not path.is_file():
            continue
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files
                          if names is None or name in names or name == "key"}
            if json.loads(str(arrays.pop("key"))) == json.loads(json.dumps(key, sort_keys=True)):
                _touch(path)
                return arrays
        except (OSError, ValueError, KeyError, EOFError, TypeError, json.JSONDecodeError):
            continue  # truncated, corrupt or not an npz: as if absent
        except Exception:  # noqa: BLE001  zipfile/zlib errors of a damaged file
            continue
    return None


def _touch(path: Path) -> None:
    """Mark an entry as just used (its mtime: evict's order); the shipped folder is left as is."""
    if not _is_shipped(path.parent):
        try:
            os.utime(path)
        except OSError:
            pass  # a read-only cache folder: reading matters more than the order of eviction


def valid_labels(a, n: int, k: int) -> bool:
    """True for an integer array (n,) with values in 0..k-1."""
    return (isinstance(a, np.ndarray) and a.shape == (n,) and a.dtype.kind in "iu"
            and (n == 0 or (int(a.min()) >= 0 and int(a.max()) < k)))


def valid_floats(a, shape: tuple) -> bool:
    """True for a finite floating array of exactly this shape."""
    return (isinstance(a, np.ndarray) and a.shape == shape and a.dtype.kind == "f"
            and bool(np.isfinite(a).all()))


def save_codes(model: str, codes, directory=None) -> Path | None:
    """Store a pipeline.Codes (without its seconds) under the model's fingerprint."""
    return save(entry_key("codes", model), {
        "z_train": codes.z_train, "y_train": codes.y_train.astype(np.uint8),
        "z_test": codes.z_test, "y_test": codes.y_test.astype(np.uint8),
        "train_index": codes.train_index.astype(np.int32)}, directory)


def load_codes(model: str, latent_dim: int, directories=None):
    """The model's pipeline.Codes from the cache (seconds = 0.0), or None."""
    from dae_core.analysis.pipeline import Codes

    a = load(entry_key("codes", model), directories)
    if a is None or not {"z_train", "y_train", "z_test", "y_test", "train_index"} <= set(a):
        return None
    n, m = len(a["y_train"]), len(a["y_test"])
    ok = (valid_floats(a["z_train"], (n, latent_dim)) and valid_floats(a["z_test"], (m, latent_dim))
          and valid_labels(a["y_train"], n, 256) and valid_labels(a["y_test"], m, 256)
          and valid_labels(a["train_index"], n, 2**31) and n > 0 and m > 0)
    if not ok:
        return None
    return Codes(a["z_train"].astype(np.float32), a["y_train"].astype(np.int64),
                 a["z_test"].astype(np.float32), a["y_test"].astype(np.int64),
                 a["train_index"].astype(np.int64), 0.0)


def load_labels(model: str, directories=None) -> tuple[np.ndarray, np.ndarray] | None:
    """(y_train, y_test) of the model's stored codes, without their vectors; or None."""
    a = load(entry_key("codes", model), directories, names=("y_train", "y_test"))
    if a is None or not {"y_train", "y_test"} <= set(a):
        return None
    y_train, y_test = a["y_train"], a["y_test"]
    ok = (len(y_train) and len(y_test) and valid_labels(y_train, len(y_train), 256)
          and valid_labels(y_test, len(y_test), 256))
    return (y_train.astype(np.int64), y_test.astype(np.int64)) if ok else None


def _map_key(model: str, projection: str, n_codes: int, n: int, seed: int) -> dict:
    return entry_key("map", model, projection=projection, n_codes=int(n_codes), n=int(n),
                     seed=int(seed))


def save_map(model: str, projection: str, n_codes: int, n: int, seed: int, idx, xy,
             directory=None) -> Path | None:
    """Store a 2-D map: positions idx (m,) among the n_codes training codes, and xy (m, 2)."""
    arrays = {"idx": np.asarray(idx, dtype=np.int32), "xy": np.asarray(xy, dtype=np.float32)}
    return save(_map_key(model, projection, n_codes, n, seed), arrays, directory)


def load_map(model: str, projection: str, n_codes: int, n: int, seed: int, directories=None):
    """(idx (m,), xy float32 (m, 2)) of a cached 2-D map, m = min(n, n_codes); or None."""
    a = load(_map_key(model, projection, n_codes, n, seed), directories)
    if a is None or not {"idx", "xy"} <= set(a):
        return None
    m = min(n, n_codes)
    idx, xy = a["idx"], a["xy"]
    if (not valid_labels(idx, m, n_codes) or not valid_floats(xy, (m, 2))
            or (m > 1 and not np.all(np.diff(idx) > 0))):
        return None
    return idx.astype(np.int64), xy.astype(np.float32)


def _sampler_key(model: str, sampler) -> dict:
    from dae_core.analysis.latent import GMM_FIT_MAX

    return entry_key("sampler", model, sampler=sampler.kind.split(":")[0],
                     components=int(sampler.n_components), seed=int(sampler.seed), fit_max=GMM_FIT_MAX)


def save_sampler(model: str, sampler, directory=None) -> Path | None:
    """Store a fitted LatentSampler of the model's training codes (its arrays, a few KB)."""
    return save(_sampler_key(model, sampler), sampler.arrays(), directory)


def load_sampler(model: str, sampler, directories=None):
    """`sampler` (a LatentSampler, not fitted) fitted as stored for the model; or None."""
    a = load(_sampler_key(model, sampler), directories)
    return None if a is None else sampler.fitted_as(a)


def _reference_key(classifier_sha256: str) -> dict:
    return {"kind": "reference", "classifier": classifier_sha256, "format": FORMAT}


def save_reference(classifier_sha256: str, mu: np.ndarray, sigma: np.ndarray, directory=None):
    """Store a classifier's (mu, sigma) of the MNIST test digits' features (quality.reference_stats),
    keyed by the classifier file's sha256."""
    return save(_reference_key(classifier_sha256), {"mu": mu, "sigma": sigma}, directory)


def load_reference(classifier_sha256: str, directories=None):
    """(mu (f,), sigma (f, f)) stored for that classifier file; or None."""
    a = load(_reference_key(classifier_sha256), directories)
    if a is None or not {"mu", "sigma"} <= set(a):
        return None
    f = len(a["mu"])
    if not (f and valid_floats(a["mu"], (f,)) and valid_floats(a["sigma"], (f, f))):
        return None
    return a["mu"].astype(np.float64), a["sigma"].astype(np.float64)


CLASSIFIER = ROOT / "checkpoints" / "classifiers" / "mnist-cnn.pt"  # the shipped one, that scores samples


def _quality_key(model: str, sampler: str, n: int, seed: int) -> dict:
    return entry_key("quality", model, sampler=sampler, n=int(n), seed=int(seed),
                     classifier=file_sha256(CLASSIFIER) if CLASSIFIER.exists() else "")


def save_quality(model: str, sampler: str, n: int, seed: int, quality: dict, directory=None):
    """Store the sample-quality dict (dae_core.analysis.quality.score_samples) of n samples of one sampler."""
    text = json.dumps(quality, default=float)
    return save(_quality_key(model, sampler, n, seed),
                {"json": np.frombuffer(text.encode(), dtype=np.uint8)}, directory)


def load_quality(model: str, sampler: str, n: int, seed: int, directories=None) -> dict | None:
    """The stored sample-quality dict, or None."""
    a = load(_quality_key(model, sampler, n, seed), directories)
    if a is None or "json" not in a or a["json"].dtype != np.uint8:
        return None
    try:
        found = json.loads(a["json"].tobytes().decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return found if isinstance(found, dict) and "recognised" in found else None
