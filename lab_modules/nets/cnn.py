"""Small convolutional nets from the reports (MNIST and CIFAR sized)."""

from __future__ import annotations

from torch import Tensor, nn


def _conv_block(c_in: int, c_out: int, batchnorm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return layers


class SmallCNN(nn.Module):
    """``conv(c1) -> pool -> conv(c2) -> pool -> fc(hidden) -> fc(num_classes)``.

    The reports' MNIST CNN (channels 16/32, fc 128) and CIFAR CNN (32/64, fc 128, optional BN)
    are both this net with different sizes.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        channels: list[int] = [16, 32],  # noqa: B006
        hidden: int = 128,
        num_classes: int = 10,
        batchnorm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for c_out in channels:
            layers += _conv_block(c, c_out, batchnorm)
            c = c_out
        self.features = nn.Sequential(*layers)
        side = image_size // (2 ** len(channels))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.classifier(self.features(image))


class SimpleCNN(nn.Module):
    """The report's SimpleCNN for CIFAR-10: three conv(3x3)+ReLU+pool blocks (32/64/128), dropout 0.3, fc 256."""

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        channels: list[int] = [32, 64, 128],  # noqa: B006
        hidden: int = 256,
        num_classes: int = 10,
        dropout: float = 0.3,
        batchnorm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for c_out in channels:
            layers += _conv_block(c, c_out, batchnorm)
            c = c_out
        self.features = nn.Sequential(*layers)
        side = image_size // (2 ** len(channels))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.classifier(self.features(image))
