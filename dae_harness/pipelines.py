"""What the benchmarks time: the reference pipeline, the engine, clustering; shared by bench_*.py.

The reference pipeline is the seed project's: torchvision MNIST + ToTensor + DataLoader (batch
256, unshuffled, one PIL image converted per sample), 48k train + 12k validation, the same model,
noise, loss and Adam 1e-3 as the engine's reference preset.
"""
from __future__ import annotations

import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from dae_core.config import TrainConfig, preset
from dae_core.data import MNIST_MD5, load_digits
from dae_core.model import DenoisingAutoencoder
from dae_core.settings import settings
from dae_core.train import EpochStats, fit, new_state, prepare_data


def _torchvision_root(tmp: Path) -> Path:
    """torchvision's MNIST reads decompressed raw files: decompress the bundled ones into tmp."""
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    bundled = settings().data_dir / "MNIST" / "raw"
    for name in MNIST_MD5:
        with gzip.open(bundled / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return tmp


def reference_epochs(epochs: int = 2, seed: int = 0, device: str = "cpu",
                     limit: int = 0) -> Iterator[tuple[float, float]]:
    """(seconds, validation MSE) of each epoch of the reference pipeline; the first epoch's
    seconds include building the dataset and the data loaders. `limit` > 0 keeps only the first
    `limit` images of each split (a smoke run)."""
    from torch.utils.data import DataLoader, Subset, random_split
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        root = str(_torchvision_root(Path(tmp)))
        t = time.perf_counter()
        ds = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
        train_ds, val_ds = random_split(ds, [48_000, 12_000], torch.Generator().manual_seed(seed))
        if limit:
            train_ds, val_ds = Subset(train_ds, range(limit)), Subset(val_ds, range(limit))
        train_dl = DataLoader(train_ds, batch_size=256, shuffle=False)
        val_dl = DataLoader(val_ds, batch_size=256, shuffle=False)
        torch.manual_seed(seed)
        model = DenoisingAutoencoder(4).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            model.train()
            for x, _ in train_dl:
                x = x.to(device)
                loss = F.mse_loss(model((x + 0.3 * torch.randn_like(x)).clamp(0, 1)), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            total = 0.0
            with torch.no_grad():
                for x, _ in val_dl:
                    x = x.to(device)
                    total += F.mse_loss(model((x + 0.3 * torch.randn_like(x)).clamp(0, 1)), x,
                                        reduction="sum").item()
            yield time.perf_counter() - t, total / (len(val_ds) * 28 * 28)
            t = time.perf_counter()


def engine_epochs(config: TrainConfig, compile_mode: str | None = None) -> Iterator[tuple[float, float]]:
    """(seconds, validation MSE) of each epoch of the engine on `config`; the first epoch's seconds
    include loading the data (when this process has not loaded it yet), building the model and,
    with `compile_mode`, compiling it. On CUDA each epoch ends with the device synchronised."""
    t = time.perf_counter()
    state = new_state(config)
    data = prepare_data(config, state.device)
    for event in fit(state, data, compile_mode=compile_mode):
        if isinstance(event, EpochStats):
            if state.device.type == "cuda":
                torch.cuda.synchronize(state.device)
            yield time.perf_counter() - t, event.val_loss
            t = time.perf_counter()


QUALITY_MSE = 0.0271  # the reference recipe's 30-epoch validation MSE (0.0268) plus 1%


def time_to_quality(epochs: Iterator[tuple[float, float]], threshold: float = QUALITY_MSE) -> dict:
    """Run the epochs until the validation MSE is <= threshold: seconds and epochs it took.

    When no epoch gets there, 'reached' is False and the seconds are those of every epoch run
    (a lower bound of the real time to that quality).
    """
    seconds, history = 0.0, []
    for s, val in epochs:
        seconds += s
        history.append(round(val, 5))
        if val <= threshold:
            return {"seconds": seconds, "epochs": len(history), "reached": True, "val_mse": history}
    return {"seconds": seconds, "epochs": len(history), "reached": False, "val_mse": history}


def cluster_seconds(checkpoint_path: str | Path) -> dict:
    """Encode the 48k training images + k-means (k=10) + Hungarian, timed end to end."""
    from dae_core import checkpoint as ckpt_io
    from dae_core.analysis.pipeline import cluster_codes, encode_splits

    ck = ckpt_io.load(checkpoint_path)
    load_digits(ck.config.dataset)  # the dataset is loaded once per process, not per analysis
    t = time.perf_counter()
    codes = encode_splits(ck.model, ck.config)
    result = cluster_codes(codes, 10, "kmeans", 0, with_test=False)
    return {"cluster_total_s": time.perf_counter() - t, "encode_s": codes.seconds,
            **{f"{k}_s": v for k, v in result.seconds.items()}, "kmeans_accuracy": result.train.accuracy}


def median_epochs(epochs: int = 2, device: str = "cpu", recipe: str = "reference", **overrides) -> dict:
    """Epochs of both pipelines taking turns (median seconds, their ratio): a slow spell of the
    machine weighs on both sides alike. The first epoch of each (set-up included) is not timed.
    The engine runs the preset `recipe` (its batch size and schedule; same model, noise, data),
    with `overrides` (e.g. batch_size) on top."""
    config = preset(recipe, **{**overrides, "device": device, "epochs": epochs + 1})
    ours = engine_epochs(config)
    ref = reference_epochs(epochs + 1, device=device)
    pairs = list(zip(ours, ref))[1:]
    o, r = [p[0][0] for p in pairs], [p[1][0] for p in pairs]
    return {"device": device, "preset": recipe, "batch_size": config.batch_size, "threads": torch.get_num_threads(), "epochs_timed": epochs,
            "ours_epoch_s": statistics.median(o), "reference_epoch_s": statistics.median(r),
            "ratio": statistics.median(o) / statistics.median(r),
            "ratios_per_epoch": [a / b for a, b in zip(o, r)]}
