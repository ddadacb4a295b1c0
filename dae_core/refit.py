"""Decoder refit: train the decoder again on the denoising loss with the encoder frozen.

Cluster-guided fine-tuning (refine) shapes the codes for clustering and pays in reconstruction.
Refitting only the decoder keeps every code exactly as it is, so the clustering's scores do not
move, while reconstructions and generated digits get as sharp as those codes allow.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from dae_core.data import add_noise, random_affine, reconstruction_mse
from dae_core.errors import DaeError
from dae_core.optim import adam, update
from dae_core.state import TrainState
from dae_core.train import TrainData


@dataclass(frozen=True)
class RefitStats:
    """One finished epoch of the decoder refit."""

    epoch: int
    train_loss: float  # mean MSE of decode(encode(noisy x)) against the clean x
    val_loss: float  # the same on the validation split, with the config's fixed noise seed
    seconds: float


def _new_decoder_weights(model: torch.nn.Module, seed: int) -> None:
    """Draw the decoder's weights again from `seed` (PyTorch's default initialisation)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in model.decoder.modules():
            if module is not model.decoder and hasattr(module, "reset_parameters"):
                module.reset_parameters()


def refit_decoder(state: TrainState, data: TrainData, epochs: int = 10, lr: float = 1e-2,
                  augment: float = 0.0, fresh: bool = False, seed: int = 0,
                  stop: threading.Event | None = None) -> Iterator[RefitStats]:
    """Train state.model.decoder in place for `epochs` on a one-cycle schedule peaking at `lr`.

    The encoder's weights and its BatchNorm statistics are left untouched (it runs in eval mode),
    so encode() gives the same codes after as before. `fresh` starts from new decoder weights
    instead of the current ones. The history gains one entry per epoch, stage "refit-decoder".
    """
    if epochs < 1 or not 0 < lr <= 10 or augment < 0:
        raise DaeError("refit-decoder needs epochs >= 1, a learning rate in (0, 10] and augment >= 0")
    cfg, model, device = state.config, state.model, state.device
    if fresh:
        _new_decoder_weights(model, seed)
    x_train, n, bs = data.x_train, len(data.x_train), cfg.batch_size
    n_batches = math.ceil(n / bs)
    opt = adam(model.decoder.parameters(), lr, device)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * n_batches)
    for e in range(1, epochs + 1):
        g = torch.Generator(device=device).manual_seed(seed * 7919 + e)
        perm = torch.randperm(n, generator=g, device=device)
        model.train()
        model.encoder.eval()  # frozen: its BatchNorm must not learn new running statistics
        t0, loss_sum = time.perf_counter(), torch.zeros((), device=device)
        for b in range(n_batches):
            if stop is not None and stop.is_set():
                return
            x = x_train[perm[b * bs: (b + 1) * bs]]
            if augment:
                x = random_affine(x, augment, g)
            with torch.no_grad():
                z = model.encode(add_noise(x, cfg.noise, cfg.noise_strength, g))
            loss_sum += update(opt, F.mse_loss(model.decode(z), x)) * len(x)  # summed on the device
            sched.step()
        val = reconstruction_mse(model, data.x_val, cfg.noise, cfg.noise_strength, cfg.seed)
        stats = RefitStats(e, loss_sum.item() / n, val, time.perf_counter() - t0)
        state.history.append({"epoch": state.epochs_done + 1, "train_loss": stats.train_loss,
                              "val_loss": val, "seconds": stats.seconds,
                              "images_per_s": n / stats.seconds, "stage": "refit-decoder"})
        yield stats
    model.eval()
