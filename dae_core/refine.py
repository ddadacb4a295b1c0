"""Cluster-guided fine-tuning: teach the encoder the confident clusters of its own codes.

DEC-style self-training (Xie et al., 2016): cluster the codes, keep the points the clustering is
sure of, and fine-tune the autoencoder on reconstruction plus cross-entropy of a linear head on z
against those pseudo-labels. The codes become linearly separable by cluster, so the ambiguous
points move towards their cluster; the labels of the dataset are never used.
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

from dae_core.analysis.cluster import match_clusters, pseudo_labels
from dae_core.analysis.latent import encode
from dae_core.data import add_noise, random_affine, reconstruction_mse
from dae_core.errors import DaeError
from dae_core.optim import adam, update
from dae_core.state import TrainState
from dae_core.train import TrainData


@dataclass(frozen=True)
class RefineStats:
    """One finished fine-tuning epoch of one round."""

    round: int
    epoch: int
    recon_loss: float  # mean MSE against the clean (augmented) training images
    val_loss: float  # reconstruction MSE on the validation split, as in training
    ce_loss: float  # mean cross-entropy against the pseudo-labels
    confident: float  # share of training images used as pseudo-labelled
    seconds: float


@dataclass(frozen=True)
class RoundStart:
    """Pseudo-labels of one round: which clustering, how many points it is sure of, how long."""

    round: int
    method: str
    confident: float
    seconds: dict
    labels: np.ndarray  # pseudo-label of every training image
    mask: np.ndarray  # which of them were trusted


def align_labels(reference: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Renumber the clusters of `labels` to agree most with `reference` (Hungarian matching)."""
    mapping = match_clusters(reference, labels)
    lookup = np.arange(labels.max() + 1)
    for cluster_id, ref_id in mapping.items():
        lookup[cluster_id] = ref_id
    return lookup[labels]


def refine(state: TrainState, data: TrainData, k: int = 10, rounds: int = 2,
           epochs: int = 5, methods: tuple[str, ...] = ("umap-gmm", "gmm"), threshold: float = 0.95,
           weight: float = 1.0, augment: float = 0.5, seed: int = 0, agreement: float = 0.9,
           invariant: bool = False, stop: threading.Event | None = None
           ) -> Iterator[RoundStart | RefineStats]:
    """Fine-tune state.model in place; round r takes its pseudo-labels with methods[min(r, -1)].

    With `invariant`, the decoder is asked for the un-jittered image: pose is then noise the code
    cannot use, so the code keeps the shape (the affine jitter becomes part of the corruption).

    The history gains one entry per epoch, marked with its stage ("refine-1", ...).
    """
    if rounds < 1 or epochs < 1 or not 0 <= threshold <= 1 or not 0 <= agreement <= 1 or weight < 0:
        raise DaeError("refine needs rounds >= 1, epochs >= 1, threshold and agreement in [0, 1] "
                       "and a weight >= 0")
    cfg, model, device = state.config, state.model, state.device
    with torch.random.fork_rng(devices=[]):  # the head's init from `seed`: runs reproduce
        torch.manual_seed(seed)
        head = torch.nn.Linear(cfg.latent_dim, k).to(device)
    params = list(model.parameters()) + list(head.parameters())
    opt = adam(params, cfg.lr, device)
    x_train, n, bs = data.x_train, len(data.x_train), cfg.batch_size
    previous = None
    for r in range(1, rounds + 1):
        method = methods[min(r - 1, len(methods) - 1)]
        labels, mask, seconds = pseudo_labels(encode(model, x_train), k, method, seed, threshold,
                                              agreement)
        if previous is not None:  # keep the head's classes: cluster ids are arbitrary per fit
            labels = align_labels(previous, labels)
        previous = labels
        yield RoundStart(r, method, float(mask.mean()), seconds, labels, mask)
        y = torch.as_tensor(np.where(mask, labels, -100), dtype=torch.long, device=device)  # -100: ignored
        for e in range(1, epochs + 1):
            g = torch.Generator(device=device).manual_seed(seed * 7919 + r * 101 + e)
            perm = torch.randperm(n, generator=g, device=device)
            model.train()
            t0 = time.perf_counter()
            recon_sum, ce_sum = torch.zeros((), device=device), torch.zeros((), device=device)
            for b in range(math.ceil(n / bs)):
                if stop is not None and stop.is_set():
                    return
                idx = perm[b * bs: (b + 1) * bs]
                clean = x_train[idx]
                x = random_affine(clean, augment, g)
                z = model.encode(add_noise(x, cfg.noise, cfg.noise_strength, g))
                recon = F.mse_loss(model.decode(z), clean if invariant else x)
                # The mean over the batch's labelled images, 0 where it has none (no host sync).
                target = y[idx]
                labelled = (target >= 0).sum().clamp(min=1)
                ce = F.cross_entropy(head(z), target, ignore_index=-100, reduction="sum") / labelled
                update(opt, recon + weight * ce)
                recon_sum += recon.detach() * len(idx)  # summed on the device
                ce_sum += ce.detach() * len(idx)
            val = reconstruction_mse(model, data.x_val, cfg.noise, cfg.noise_strength, cfg.seed)
            stats = RefineStats(r, e, recon_sum.item() / n, val, ce_sum.item() / n,
                                float(mask.mean()), time.perf_counter() - t0)
            state.history.append({"epoch": state.epochs_done + 1, "train_loss": stats.recon_loss,
                                  "val_loss": val, "seconds": stats.seconds,
                                  "images_per_s": n / stats.seconds, "stage": f"refine-{r}"})
            yield stats
