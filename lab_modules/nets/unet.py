"""U-Net (Ronneberger et al. 2015) with configurable depth and width; 'same' padding, so the
output has the input's size whenever the side is divisible by ``2**depth``."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _double_conv(c_in: int, c_out: int, batchnorm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers.append(nn.Conv2d(c, c_out, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """``depth`` down steps (maxpool + double conv, width doubling from ``base``), a mirrored
    up path with transposed convs and skip concatenations, and a 1x1 conv to ``out_channels``
    logits. The original: depth 4, base 64, no BatchNorm."""

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, depth: int = 4, base: int = 64, batchnorm: bool = True
    ) -> None:
        super().__init__()
        self.depth = depth
        widths = [base * 2**i for i in range(depth + 1)]
        self.inc = _double_conv(in_channels, widths[0], batchnorm)
        self.down = nn.ModuleList(_double_conv(widths[i], widths[i + 1], batchnorm) for i in range(depth))
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, 2) for i in reversed(range(depth)))
        self.dec = nn.ModuleList(_double_conv(2 * widths[i], widths[i], batchnorm) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, image: Tensor) -> Tensor:
        side = image.shape[-1]
        if image.shape[-2] % 2**self.depth or side % 2**self.depth:
            raise ValueError(
                f"UNet(depth={self.depth}) needs sides divisible by {2**self.depth}, got {tuple(image.shape[-2:])}"
            )
        skips, x = [], self.inc(image)
        for down in self.down:
            skips.append(x)
            x = down(self.pool(x))
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)
