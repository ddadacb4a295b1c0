"""The reference convolutional denoising autoencoder: encode(x) -> z, decode(z) -> x_hat."""
from __future__ import annotations

import torch
from torch import nn



class Encoder(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> (B, d)."""

    def __init__(self, latent_dim: int, width: int = 1):
        super().__init__()
        c1, c2, c3 = 8 * width, 16 * width, 32 * width
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),  # (B, 8, 14, 14)
            nn.ReLU(True),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),  # (B, 16, 7, 7)
            nn.BatchNorm2d(c2),
            nn.ReLU(True),
            nn.Conv2d(c2, c3, 3, stride=2, padding=0),  # (B, 32, 3, 3)
            nn.ReLU(True),
        )
        self.fc = nn.Sequential(
            nn.Flatten(),  # (B, 288)
            nn.Linear(c3 * 3 * 3, 128),  # (B, 128)
            nn.ReLU(True),
            nn.Linear(128, latent_dim),  # (B, d)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))


class Decoder(nn.Module):
    """(B, d) -> (B, 1, 28, 28) in (0, 1); the encoder mirrored with ConvTranspose and BN."""

    def __init__(self, latent_dim: int, width: int = 1):
        super().__init__()
        c1, c2, c3 = 8 * width, 16 * width, 32 * width
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 128),  # (B, 128)
            nn.ReLU(True),
            nn.Linear(128, c3 * 3 * 3),  # (B, 288)
            nn.ReLU(True),
            nn.Unflatten(1, (c3, 3, 3)),  # (B, 32, 3, 3)
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c3, c2, 3, stride=2, output_padding=0),  # (B, 16, 7, 7)
            nn.BatchNorm2d(c2),
            nn.ReLU(True),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1),  # (B, 8, 14, 14)
            nn.BatchNorm2d(c1),
            nn.ReLU(True),
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1),  # (B, 1, 28, 28)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.deconv(self.fc(z)))


class DenoisingAutoencoder(nn.Module):
    """Encoder + decoder; forward(x_noisy) -> x_hat, trained against the clean x."""

    def __init__(self, latent_dim: int = 4, width: int = 1):
        super().__init__()
        self.latent_dim = latent_dim
        self.width = width
        self.encoder = Encoder(latent_dim, width)
        self.decoder = Decoder(latent_dim, width)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> z (B, d)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, d) -> x_hat (B, 1, 28, 28)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
