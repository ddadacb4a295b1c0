"""Training the split-code autoencoder: reconstruction plus the class of each jittered digit.

The class targets are clusters, not the dataset's labels: a teacher autoencoder's codes of the
training images, clustered by an in-app method (UMAP+GMM by default), the points the clustering is
unsure of left out (analysis.cluster.pseudo_labels). Each step jitters every clean digit (pose and
stroke width: changes a digit keeps its label under), corrupts it with the run's noise, and asks for
- the class part to name the digit's cluster (cross-entropy), whatever the jitter: so it is
  invariant to pose and stroke, which the style part is then left to carry;
- the code (class probabilities and style) to decode to the jittered clean image.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from dae_core.analysis.cluster import pseudo_labels
from dae_core.analysis.latent import encode
from dae_core.config import TrainConfig
from dae_core.data import add_noise, random_affine, reconstruction_mse
from dae_core.device import place, resolve_device
from dae_core.errors import ConfigError
from dae_core.split import SplitAutoencoder, SplitConfig
from dae_core.optim import adam, set_schedule, update
from dae_core.state import TrainState
from dae_core.train import TrainData

UNLABELLED = -100  # cross_entropy's ignore_index: a point the clustering was unsure of


@dataclass(frozen=True)
class SplitStats:
    """One finished epoch."""

    epoch: int
    recon_loss: float  # mean MSE of the reconstructions of the jittered digits
    class_loss: float  # mean cross-entropy of the class part against the cluster targets
    val_loss: float  # reconstruction MSE on the validation split at the run's noise
    seconds: float


def stroke_jitter(x: torch.Tensor, strength: float, g: torch.Generator | None = None) -> torch.Tensor:
    """Thicken or thin each stroke of a (B, 1, H, W) batch: blend by t ~ U(-s, s) towards a 3x3
    dilation (t > 0) or erosion (t < 0)."""
    if strength <= 0:
        return x
    t = (torch.rand((len(x), 1, 1, 1), generator=g, device=x.device, dtype=x.dtype) * 2 - 1) * strength
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return x + t.clamp(min=0) * (dilated - x) + (-t).clamp(min=0) * (eroded - x)


def view(x: torch.Tensor, split: SplitConfig, g: torch.Generator) -> torch.Tensor:
    """One jittered clean view of a batch of digits (pose, then stroke width), in [0, 1]; the
    first `split.plain` share of the batch is left as it comes."""
    jittered = stroke_jitter(random_affine(x, split.view_augment, g), split.stroke, g).clamp_(0.0, 1.0)
    n_plain = round(split.plain * len(x))
    return torch.cat([x[:n_plain].to(jittered.dtype), jittered[n_plain:]]) if n_plain else jittered


def cluster_targets(teacher, images, k: int = 10, method: str = "umap-gmm", seed: int = 0,
                    threshold: float = 0.95, agreement: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(targets (N,) int64, with UNLABELLED where the clustering is unsure; seconds per step) of
    uint8 images (N, 28, 28): the teacher's codes clustered (analysis.cluster.pseudo_labels)."""
    labels, mask, seconds = pseudo_labels(encode(teacher, images), k, method, seed, threshold, agreement)
    return np.where(mask, labels, UNLABELLED).astype(np.int64), seconds


def swap_loss(model: SplitAutoencoder, p: torch.Tensor, style: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Cross-entropy of the class the encoder reads in each style decoded with another digit's
    class part (p rolled by a random shift within the batch), against that class. It trains the
    decoder alone (the encoder judges with its weights detached, in eval mode): so the digit comes
    from the class part whatever the style, and turning a style dial keeps it."""
    shift = int(torch.randint(1, len(p), (1,), generator=g, device=p.device)) if len(p) > 1 else 0
    p_other = p.roll(shift, dims=0)
    x_swap = model.decode(torch.cat([p_other, style.detach()], dim=1))
    encoder = model.encoder
    frozen = {name: t.detach() for name, t in [*encoder.named_parameters(), *encoder.named_buffers()]}
    was_training = encoder.training
    encoder.eval()
    try:
        logits = torch.func.functional_call(encoder, frozen, (x_swap,))[:, :model.n_classes]
    finally:
        encoder.train(was_training)
    return F.cross_entropy(logits, p_other.argmax(dim=1))


def split_loss(model: SplitAutoencoder, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
               split: SplitConfig, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total loss, reconstruction MSE, cross-entropy) of a clean batch (B, 1, 28, 28) and its
    cluster targets (B,) (UNLABELLED ones ignored)."""
    clean = view(x, split, g)
    logits, style = model.heads(add_noise(clean, cfg.noise, cfg.noise_strength, g))
    # The decoder reads the class probabilities but does not train them: pulled by the
    # reconstruction too, the class part drifts towards what is cheapest to redraw (stroke, slant).
    p = logits.softmax(dim=1).detach()
    recon = F.mse_loss(model.decode(torch.cat([p, style], dim=1)), clean)
    labelled = (y != UNLABELLED).sum().clamp(min=1)  # the mean over labelled images, no host sync
    ce = F.cross_entropy(logits, y, ignore_index=UNLABELLED, reduction="sum") / labelled
    total = recon + split.class_weight * ce
    if split.swap_weight > 0:
        total = total + split.swap_weight * swap_loss(model, p, style, g)
    return total, recon, ce


def new_split_state(cfg: TrainConfig, split: SplitConfig) -> TrainState:
    """A fresh split model whose initial weights depend only on cfg.seed."""
    if cfg.latent_dim != split.n_classes + split.style_dim:
        raise ConfigError(f"latent_dim must be n_classes + style_dim = {split.n_classes + split.style_dim}")
    device = resolve_device(cfg.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = SplitAutoencoder(split, cfg.width)
    model = place(model, device)
    return TrainState(cfg, model, adam(model.parameters(), cfg.lr, device), device)


def fit_split(state: TrainState, data: TrainData, targets: np.ndarray, split: SplitConfig,
              stop: threading.Event | None = None) -> Iterator[SplitStats]:
    """Train state.model for state.config.epochs on the config's schedule against cluster
    `targets` (N_train,) of data.x_train; one SplitStats per epoch.

    The history gains one entry per epoch (stage "split"), as the training engine writes them.
    """
    cfg, model, device, opt = state.config, state.model, state.device, state.optimizer
    n, bs = len(data.x_train), cfg.batch_size
    if len(targets) != n:
        raise ConfigError(f"need one cluster target per training image ({n}); got {len(targets)}")
    y_all = torch.as_tensor(targets, dtype=torch.long, device=device)
    n_batches = math.ceil(n / bs)
    total = cfg.epochs * n_batches
    for e in range(1, cfg.epochs + 1):
        g = torch.Generator(device=device).manual_seed(cfg.seed * 7919 + e)
        perm = torch.randperm(n, generator=g, device=device)
        model.train()
        t0 = time.perf_counter()
        recon_sum, ce_sum = torch.zeros((), device=device), torch.zeros((), device=device)
        for b in range(n_batches):
            if stop is not None and stop.is_set():
                return
            set_schedule(opt, cfg, (e - 1) * n_batches + b, total)
            idx = perm[b * bs: (b + 1) * bs]
            loss, recon, ce = split_loss(model, data.x_train[idx], y_all[idx], cfg, split, g)
            update(opt, loss)
            recon_sum += recon.detach()
            ce_sum += ce.detach()
        val = reconstruction_mse(model, data.x_val, cfg.noise, cfg.noise_strength, cfg.seed)
        stats = SplitStats(e, recon_sum.item() / n_batches, ce_sum.item() / n_batches, val,
                           time.perf_counter() - t0)
        state.history.append({"epoch": state.epochs_done + 1, "train_loss": stats.recon_loss,
                              "val_loss": val, "class_loss": stats.class_loss, "seconds": stats.seconds,
                              "images_per_s": n / stats.seconds, "stage": "split"})
        yield stats
    model.eval()
