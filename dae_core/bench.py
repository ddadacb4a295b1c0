"""Timings in one run on one machine: the reference pipeline against our engine, and clustering."""
from __future__ import annotations

import contextlib
import gzip
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from . import native
from .config import TrainConfig
from .data import DATA_DIR, MNIST_MD5
from .errors import DaeError
from .layers import to_plain
from .model import DenoisingAutoencoder
from .train import EpochStats, fit, new_state, prepare_data


def _torchvision_root(tmp: Path) -> Path:
    """torchvision's MNIST reads decompressed raw files: decompress the bundled ones into tmp."""
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_MD5:
        with gzip.open(DATA_DIR / "MNIST" / "raw" / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return tmp


def reference_epochs(epochs: int = 2, seed: int = 0, device: str = "cpu") -> Iterator[float]:
    """Seconds of each epoch of the reference pipeline: torchvision MNIST + ToTensor + DataLoader.

    Batch 256, unshuffled, one PIL image converted per sample, 48k train + 12k validation,
    the same model, noise, loss and optimizer as ours.
    """
    from torch.utils.data import DataLoader, random_split
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        ds = datasets.MNIST(str(_torchvision_root(Path(tmp))), train=True, download=False,
                            transform=transforms.ToTensor())
        train_ds, val_ds = random_split(ds, [48_000, 12_000], torch.Generator().manual_seed(seed))
        train_dl = DataLoader(train_ds, batch_size=256, shuffle=False)
        val_dl = DataLoader(val_ds, batch_size=256, shuffle=False)
        torch.manual_seed(seed)
        model = to_plain(DenoisingAutoencoder(4)).to(device)  # PyTorch's layers only
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            t = time.perf_counter()
            model.train()
            for x, _ in train_dl:
                x = x.to(device)
                x_noisy = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
                loss = F.mse_loss(model(x_noisy), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            val_loss = 0.0
            with torch.no_grad():
                for x, _ in val_dl:
                    x = x.to(device)
                    x_noisy = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
                    val_loss += F.mse_loss(model(x_noisy), x).item() * len(x)
            yield time.perf_counter() - t


def engine_epochs(epochs: int = 2, seed: int = 0, device: str = "cpu",
                  adjust: Callable[[torch.nn.Module], object] | None = None) -> Iterator[float]:
    """Seconds of each epoch of our engine on the reference configuration.

    `adjust(model)` runs on the placed model before training, to measure one of the engine's
    choices against its alternative (`benchmarks/bench_choices.py`).
    """
    state = new_state(TrainConfig(seed=seed, device=device, epochs=epochs))
    if adjust is not None:
        adjust(state.model)
    data = prepare_data(state.config, state.device)
    return (e.seconds for e in fit(state, data) if isinstance(e, EpochStats))


class _OpTimer(TorchDispatchMode):
    """Adds up the wall time of every aten op run under it, keyed by op name and input shapes.

    On the CPU an op returns only when its work is done, so its wall time is its cost, in the
    engine's real state (caches, page faults, sleeping threads), unlike a kernel timed alone.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict = {}
        self.calls: dict = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        t = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        key = (func.__name__, tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))[:2])
        self.add(key, time.perf_counter() - t)
        return out

    def add(self, key: tuple, seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.calls[key] = self.calls.get(key, 0) + 1

    @contextlib.contextmanager
    def kernels(self):
        """Also time dae_core/native's kernels (ctypes calls, which aten's dispatch never sees)."""
        lib = native.library()
        names = list(native.SIGNATURES) if lib is not None else []
        originals = {name: getattr(lib, name) for name in names}

        def timed(name, fn):
            def call(*args):
                t = time.perf_counter()
                out = fn(*args)
                self.add((f"dae_core.native.{name}", ()), time.perf_counter() - t)
                return out
            return call

        for name, fn in originals.items():
            setattr(lib, name, timed(name, fn))
        try:
            yield self
        finally:
            for name, fn in originals.items():
                setattr(lib, name, fn)


def op_times(batches: int = 60, warmup: int = 20, config: TrainConfig | None = None) -> dict:
    """Where a training step of the engine spends its time, op by op (CPU only).

    Runs `warmup` batches, then times `batches` more with every aten op and native kernel timed
    (named "dae_core.native.NAME"); returns the
    wall milliseconds per step (the timer's own overhead included), minor page faults per
    step, and the ops sorted by milliseconds per step.
    """
    import resource

    state = new_state((config or TrainConfig()).replace(device="cpu", epochs=1))
    data = prepare_data(state.config, state.device)
    n_batches = math.ceil(len(data.x_train) / state.config.batch_size)
    if warmup + batches > n_batches:  # the epoch's end would add validation to the timings
        raise DaeError(f"warmup + batches must fit in one epoch ({n_batches} batches), "
                       f"got {warmup} + {batches}")
    steps = fit(state, data, report_every=1)
    for _ in range(warmup):
        next(steps)
    timer = _OpTimer()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with timer, timer.kernels():
        t = time.perf_counter()
        for _ in range(batches):
            next(steps)
        wall = time.perf_counter() - t
    steps.close()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    ops = [{"op": name, "shapes": shapes, "ms_per_step": 1000 * s / batches,
            "calls_per_step": timer.calls[(name, shapes)] / batches}
           for (name, shapes), s in sorted(timer.seconds.items(), key=lambda kv: -kv[1])]
    return {"wall_ms_per_step": 1000 * wall / batches,
            "ops_ms_per_step": 1000 * sum(timer.seconds.values()) / batches,
            "minor_faults_per_step": faults / batches, "ops": ops}


def cluster_seconds(checkpoint_path: str | Path | None = None) -> dict:
    """Encode the 48k training images + k-means (k=10) + Hungarian, timed end to end."""
    from . import checkpoint as ckpt_io
    from .pipeline import cluster_codes, encode_splits

    if checkpoint_path is None:
        model, cfg = DenoisingAutoencoder(4).eval(), TrainConfig()
    else:
        ck = ckpt_io.load(checkpoint_path)
        model, cfg = ck.model, ck.config
    from .data import load_digits

    load_digits(cfg.dataset)  # the dataset is loaded once per process, not per analysis
    t = time.perf_counter()
    codes = encode_splits(model, cfg)
    result = cluster_codes(codes, 10, "kmeans", 0, with_test=False)
    total = time.perf_counter() - t
    return {"cluster_total_s": total, "encode_s": codes.seconds, **{f"{k}_s": v for k, v in
            result.seconds.items()}, "kmeans_accuracy": result.train.accuracy}


def run_all(epochs: int = 2, with_reference: bool = True, device: str = "cpu") -> dict:
    """All timings in one process: epochs of both pipelines (median), their ratio, clustering.

    The two pipelines take turns, one epoch each, so a change in the machine's speed during
    the run (common on shared cores) weighs on both sides of the ratio alike.
    """
    out = {"device": device, "threads": torch.get_num_threads(), "kernels": native.status(),
           "epochs_timed": epochs}
    if with_reference:
        pairs = list(zip(engine_epochs(epochs, device=device), reference_epochs(epochs, device=device)))
        ours, ref = [o for o, _ in pairs], [r for _, r in pairs]
    else:
        ours = list(engine_epochs(epochs, device=device))
    out["ours_epoch_s"] = statistics.median(ours)
    out["ours_epochs_s"] = ours
    if with_reference:
        out["reference_epoch_s"] = statistics.median(ref)
        out["reference_epochs_s"] = ref
        out["ratio"] = out["ours_epoch_s"] / out["reference_epoch_s"]
        out["ratios_per_epoch"] = [o / r for o, r in zip(ours, ref)]
    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "reference-d4.pt"
    out.update(cluster_seconds(shipped if shipped.exists() else None))
    return out
