"""The split-code autoencoder: z = (class part, style part), decode(z) -> x_hat.

The encoder ends in n_classes logits and style_dim free numbers. The class part of the code is the
softmax of the logits, trained to name a digit's cluster whatever its pose and stroke (split_train);
the style part holds whatever else the decoder needs (pose, stroke, slant). The decoder reads both.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from dae_core.errors import ConfigError
from dae_core.model import Decoder, Encoder

@dataclass(frozen=True)
class SplitConfig:
    """What the split model adds to a TrainConfig; saved in its checkpoint's "split" record."""

    n_classes: int = 10  # size of the class part: one softmax over this many classes
    style_dim: int = 12  # size of the style part
    class_weight: float = 1.0  # weight of the class part's cross-entropy against the reconstruction MSE
    view_augment: float = 1.0  # affine jitter of each training view (data.random_affine's strength)
    stroke: float = 0.5  # stroke-width jitter of each view: blend towards a dilation or erosion
    plain: float = 0.0  # share of each batch left as it comes (not jittered), as validation sees digits
    swap_weight: float = 0.0  # weight of the swap loss: another digit's class part decoded with this style must read as that class

    def __post_init__(self) -> None:
        for name, low, high in (("n_classes", 2, 256), ("style_dim", 0, 256)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name} must be a whole number from {low} to {high}; got {value!r}")
        for name, high in (("class_weight", 1e3), ("view_augment", 3.0), ("stroke", 1.0), ("plain", 1.0),
                           ("swap_weight", 1e3)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
                raise ConfigError(f"{name} must be a number from 0 to {high:g}; got {value!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SplitConfig":
        """Rebuild from a checkpoint's record; unknown keys are refused, missing ones take defaults."""
        if not isinstance(d, dict):
            raise ConfigError(f"the split record must be a dict, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown split field(s): {', '.join(map(str, unknown))}")
        return cls(**d)


class SplitAutoencoder(nn.Module):
    """encode(x) -> z (B, n_classes + style_dim): class probabilities, then style; forward(x_noisy)
    -> x_hat, as the reference autoencoder, so every analysis of codes works on it unchanged."""

    def __init__(self, split: SplitConfig = SplitConfig(), width: int = 1):
        super().__init__()
        self.split_config, self.width = split, width
        self.n_classes, self.style_dim = split.n_classes, split.style_dim
        self.latent_dim = self.n_classes + self.style_dim
        self.encoder = Encoder(self.latent_dim, width)  # (B, n_classes) logits, then (B, style_dim)
        self.decoder = Decoder(self.latent_dim, width)

    @property
    def class_dims(self) -> list[int]:
        """Coordinates of z that hold the class probabilities."""
        return list(range(self.n_classes))

    @property
    def style_dims(self) -> list[int]:
        """Coordinates of z that hold the style."""
        return list(range(self.n_classes, self.latent_dim))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, 28, 28) -> (class logits (B, n_classes), style (B, style_dim))."""
        out = self.encoder(x)
        return out[:, :self.n_classes], out[:, self.n_classes:]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> z (B, n_classes + style_dim): softmax of the logits, then the style."""
        logits, style = self.heads(x)
        return torch.cat([logits.softmax(dim=1), style], dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n_classes + style_dim) -> x_hat (B, 1, 28, 28)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
