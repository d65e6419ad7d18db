"""ResNet18 from torchvision with a CIFAR stem (3x3 conv, stride 1, no max-pool)."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import resnet18


class ResNet18(nn.Module):
    """torchvision's ResNet18; ``cifar_stem`` swaps the 7x7/stride-2 conv and max-pool for a
    3x3/stride-1 conv, which is what 32x32 inputs need (the ImageNet stem leaves 1x1 maps)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, cifar_stem: bool = True) -> None:
        super().__init__()
        self.backbone = resnet18(weights=None, num_classes=num_classes)
        if cifar_stem:
            self.backbone.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.backbone.maxpool = nn.Identity()
        elif in_channels != 3:
            self.backbone.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)

    def forward(self, image: Tensor) -> Tensor:
        return self.backbone(image)
