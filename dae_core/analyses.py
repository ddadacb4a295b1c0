"""The analyses that run as Ray tasks (plain functions: arrays in, arrays out) and the runner
that sends them to Ray for dae_core.tasks: one core and one BLAS/OpenMP thread per task."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import numpy as np

from .errors import DaeError, one_line

GET_TIMEOUT_S = 30.0  # for fetching a finished task's result (it is ready: this is transfer time)
PUT_CACHE = 8  # big inputs kept in Ray's object store, reused by the tasks that share them
log = logging.getLogger(__name__)


def map_2d(z: np.ndarray, projection: str, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(idx, xy): a 'tsne' map of n sampled codes, or a 'umap' map of all of them (idx = 0..N-1)."""
    from . import embed

    if projection == "tsne":
        return embed.tsne_2d(z, len(z) if n is None else n, seed)
    return np.arange(len(z)), embed.umap_2d(z, seed)


def sample_quality(model, latent_dim: int, sampler, classifier, reference, n: int, seed: int) -> dict:
    """The quality dict (dae_core.quality.score_samples) of n codes drawn by a fitted sampler."""
    from .latent import decode
    from .quality import score_samples

    return score_samples(classifier, decode(model, sampler.sample(n, seed, latent_dim)), reference)


def fit_and_score(model, latent_dim: int, z: np.ndarray, kind: str, classifier, reference,
                  n: int, seed: int) -> dict:
    """sample_quality of the sampler `kind` fitted to the training codes z (N, d)."""
    from .latent import LatentSampler

    sampler = LatentSampler(kind) if kind == "uniform01" else LatentSampler(kind).fit(z)
    return sample_quality(model, latent_dim, sampler, classifier, reference, n, seed)


def describe_failure(error: Exception) -> str:
    """One line on why a task failed."""
    from ray.exceptions import WorkerCrashedError

    if isinstance(error, WorkerCrashedError):
        return "the analysis process exited unexpectedly (killed, or out of memory)"
    cause = getattr(error, "cause", None) or error
    return " ".join(str(cause).split())[:300] if isinstance(cause, DaeError) else one_line(error)


def _in_worker(fn, *args):
    """fn(*args) in a Ray worker, which runs one task at a time: one BLAS/OpenMP thread there."""
    _one_thread()
    return fn(*args)


_limited = False  # in a worker process: whether its thread pools were limited (once)


def _one_thread() -> None:
    # One thread per worker: these fits are small, and extra threads on a busy machine wait on
    # each other (t-SNE of 2,000 codes: 6 s with one thread, 27 s with two, docs/speed.md). This
    # limits the libraries loaded by now; Ray sets OMP_NUM_THREADS to the task's one CPU, which
    # holds for OpenMP libraries a task loads later (scikit-learn's).
    global _limited
    if not _limited:
        import torch
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # not a context: for the rest of this worker process
        torch.set_num_threads(1)
        _limited = True


class RayRunner:
    """Submits tasks to Ray (started on the first submit) and asks Ray about them."""

    describe = staticmethod(describe_failure)

    def __init__(self) -> None:
        self._remote = None
        self._puts: OrderedDict = OrderedDict()  # id(arg) -> (arg, its ObjectRef), least recent first
        self._lock = threading.Lock()

    def submit(self, fn, args: tuple):
        import ray

        from . import ray_start

        ray_start.connect()
        with self._lock:
            if self._remote is None:
                self._remote = ray.remote(num_cpus=1, max_retries=0)(_in_worker)
            try:
                return self._remote.remote(fn, *[self._put(a) for a in args])
            except Exception:
                self._puts.clear()  # refs of a Ray that went away
                raise

    def _put(self, arg):
        """A big input (arrays, codes, a model) through ray.put once, for every task that uses it."""
        import ray

        if arg is None or isinstance(arg, (bool, int, float, str, tuple)):
            return arg
        found = self._puts.get(id(arg))
        if found is not None and found[0] is arg:
            self._puts.move_to_end(id(arg))
            return found[1]
        self._puts[id(arg)] = (arg, ray.put(arg))  # arg kept alive, so its id is not reused
        while len(self._puts) > PUT_CACHE:
            self._puts.popitem(last=False)
        return self._puts[id(arg)][1]

    def ready(self, refs: list) -> list:
        import ray

        return ray.wait(refs, num_returns=len(refs), timeout=0)[0]

    def get(self, ref):
        import ray

        return ray.get(ref, timeout=GET_TIMEOUT_S)

    def cancel(self, ref) -> None:
        import ray

        try:
            ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001  already ended, or Ray is gone: nothing left to stop
            log.debug("ray.cancel failed", exc_info=True)


