"""VGG16 with batch norm, sized for 32x32 inputs (CIFAR)."""

from __future__ import annotations

from torch import Tensor, nn

_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    """The 13-conv VGG16 body; at 32x32 five pools leave 1x1x512, so the head is one
    512-512-num_classes MLP instead of ImageNet's 4096-wide one (as in the usual CIFAR ports)."""

    def __init__(
        self, in_channels: int = 3, num_classes: int = 10, batchnorm: bool = True, dropout: float = 0.5
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers.append(nn.Conv2d(c, int(v), 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(int(v)))
            layers.append(nn.ReLU(inplace=True))
            c = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(image)))
