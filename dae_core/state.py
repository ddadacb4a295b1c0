"""TrainState: what a run carries from one epoch to the next, and what a checkpoint saves of it
(model, optimizer, config, finished-epoch history). The engine (dae_core.train) advances it; a
checkpoint (dae_core.checkpoint) writes it and rebuilds it."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dae_core.config import TrainConfig


@dataclass
class TrainState:
    """Everything a run needs to go on: model, optimizer, config, finished-epoch history.

    `config` is the run's recipe: a TrainConfig, or any frozen config with the fields the loop
    reads (epochs, lr, schedule, batch_size, seed).
    """

    config: TrainConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    history: list = field(default_factory=list)  # one EpochStats dict per finished epoch

    @property
    def epochs_done(self) -> int:
        return len(self.history)
