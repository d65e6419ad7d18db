"""LeNet-style CNN (the feature-maps lab): two 5x5 conv layers (6 and 16 maps), then fc 120-84-classes."""

from __future__ import annotations

from torch import Tensor, nn


class LeNet(nn.Module):
    """``conv1(6, 5x5) -> ReLU -> pool -> conv2(16, 5x5) -> ReLU -> pool -> fc1(120) -> fc2(84) -> fc3``.

    The layers have names (``conv1``, ``conv2``, ``fc1``...) so that figure callbacks can pick
    them in the config (``net.conv1``). 62,006 parameters for 3 x 32 x 32 inputs and 10 classes.
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2)
        self.act = nn.ReLU()
        side = ((image_size - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, image: Tensor) -> Tensor:
        x = self.pool(self.act(self.conv1(image)))
        x = self.pool(self.act(self.conv2(x)))
        x = self.act(self.fc1(x.flatten(1)))
        x = self.act(self.fc2(x))
        return self.fc3(x)
