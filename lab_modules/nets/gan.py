"""GAN generators and discriminators: the report's MLPs and a DCGAN pair (28x28 or 32x32 images).

Generators map ``z`` (N x latent_dim) to images in [-1, 1] (tanh); discriminators map images to
one logit per image (no sigmoid: the task module uses BCE-with-logits).
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class MLPGenerator(nn.Module):
    """``latent_dim -> hidden... -> prod(image_shape)`` with LeakyReLU(0.2), tanh output.
    The report: 100-128-256-512-784."""

    def __init__(
        self,
        latent_dim: int = 100,
        hidden: list[int] = [128, 256, 512],  # noqa: B006
        input_shape: list[int] = [1, 28, 28],
        batchnorm: bool = False,
    ) -> None:  # noqa: B006
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, list(input_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            width = h
        layers += [nn.Linear(width, math.prod(input_shape)), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.layers(z).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """``prod(image_shape) -> hidden... -> 1`` with LeakyReLU(0.2). The report: 784-512-256-128-1."""

    def __init__(
        self,
        input_shape: list[int] = [1, 28, 28],
        hidden: list[int] = [512, 256, 128],  # noqa: B006
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image).squeeze(1)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN paper init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """``z -> linear -> (2*ngf) x s/4 x s/4 -> ConvT -> ngf x s/2 -> ConvT -> C x s``, BN + ReLU, tanh."""

    def __init__(self, latent_dim: int = 100, ngf: int = 64, input_shape: list[int] = [1, 28, 28]) -> None:  # noqa: B006
        super().__init__()
        c, side = input_shape[0], input_shape[-1]
        if side % 4:
            raise ValueError(f"DCGANGenerator needs an image side divisible by 4, got {side}")
        self.latent_dim, self.ngf, self.side = latent_dim, ngf, side // 4
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * ngf * self.side**2, bias=False),
            nn.BatchNorm1d(2 * ngf * self.side**2),
            nn.ReLU(inplace=True),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(ngf, c, 4, 2, 1),
            nn.Tanh(),
        )
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.up(self.project(z).view(z.shape[0], 2 * self.ngf, self.side, self.side))


class DCGANDiscriminator(nn.Module):
    """``C x s -> conv ndf (s/2) -> conv 2*ndf (s/4), BN -> linear 1``, LeakyReLU(0.2)."""

    def __init__(self, ndf: int = 64, input_shape: list[int] = [1, 28, 28]) -> None:  # noqa: B006
        super().__init__()
        c, side = input_shape[0], input_shape[-1]
        self.layers = nn.Sequential(
            nn.Conv2d(c, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * ndf),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(2 * ndf * (side // 4) ** 2, 1),
        )
        dcgan_init(self)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image).squeeze(1)
