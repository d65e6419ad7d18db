"""The smallest useful CNN (the early-stopping lab's): one conv layer, ReLU, max-pool, one linear layer."""

from __future__ import annotations

from torch import Tensor, nn


class ConvPoolLinear(nn.Module):
    """``conv(channels, k x k, same padding) -> ReLU -> maxpool(pool) -> linear(num_classes)``.

    With the defaults (32 channels, 3x3, pool 2) on 3 x 128 x 128 images and 2 classes this is
    the report's cats-vs-dogs net: 896 + 262,146 = 263,042 parameters.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 128,
        num_classes: int = 2,
        channels: int = 32,
        kernel_size: int = 3,
        pool: int = 2,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, kernel_size, padding=kernel_size // 2)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(pool)
        side = image_size // pool
        self.fc = nn.Linear(channels * side * side, num_classes)

    def forward(self, image: Tensor) -> Tensor:
        return self.fc(self.pool(self.act(self.conv(image))).flatten(1))
