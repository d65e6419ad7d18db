"""Variational autoencoders: the report's MLP (784-400-200 -> z -> 200-400-784) and a conv variant.

``forward(image)`` returns ``(logits, mu, logvar)``: decoder *logits* (sigmoid gives the Bernoulli
means in [0, 1]), so the loss can use the numerically stable BCE-with-logits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class _VAE(nn.Module):
    latent_dim: int
    image_shape: list[int]

    def encode(self, image: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(image)
        return self.mu(h), self.logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Logits of the Bernoulli means, N x C x H x W."""
        return self.decoder(z).view(z.shape[0], *self.image_shape)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(image)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar


class MLPVAE(_VAE):
    def __init__(
        self,
        input_shape: list[int] = [1, 28, 28],
        hidden: list[int] = [400, 200],  # noqa: B006
        latent_dim: int = 2,
    ) -> None:
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, list(input_shape)
        d = math.prod(input_shape)
        enc: list[nn.Module] = [nn.Flatten()]
        width = d
        for h in hidden:
            enc += [nn.Linear(width, h), nn.ReLU(True)]
            width = h
        self.encoder = nn.Sequential(*enc)
        self.mu, self.logvar = nn.Linear(width, latent_dim), nn.Linear(width, latent_dim)
        dec: list[nn.Module] = []
        width = latent_dim
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), nn.ReLU(True)]
            width = h
        dec.append(nn.Linear(width, d))
        self.decoder = nn.Sequential(*dec)


class ConvVAE(_VAE):
    """conv 32-64 (stride 2) -> fc ``hidden`` -> z; mirror with transposed convs. Side divisible by 4."""

    def __init__(
        self,
        input_shape: list[int] = [1, 28, 28],
        channels: list[int] = [32, 64],  # noqa: B006
        hidden: int = 256,
        latent_dim: int = 2,
    ) -> None:
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, list(input_shape)
        c_in, side = input_shape[0], input_shape[-1] // 4
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(c_in, c1, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(c1, c2, 4, 2, 1),
            nn.ReLU(True),
            nn.Flatten(),
            nn.Linear(c2 * side * side, hidden),
            nn.ReLU(True),
        )
        self.mu, self.logvar = nn.Linear(hidden, latent_dim), nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(True),
            nn.Linear(hidden, c2 * side * side),
            nn.ReLU(True),
            nn.Unflatten(1, (c2, side, side)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(c1, c_in, 4, 2, 1),
        )
