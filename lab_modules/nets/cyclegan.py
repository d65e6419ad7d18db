"""CycleGAN networks (Zhu et al. 2017): ResNet generator and 70x70 PatchGAN discriminator."""

from __future__ import annotations

from torch import Tensor, nn


def normal_init(module: nn.Module, std: float = 0.02) -> None:
    """CycleGAN's init: conv weights N(0, std), biases 0 (InstanceNorm here has no affine weights)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, ``n_down`` stride-2 convs, ``n_blocks`` residual blocks, ``n_down`` transposed
    convs, c7s1-C, tanh. The paper: ngf 64, 9 blocks (256x256 images)."""

    def __init__(self, in_channels: int = 3, ngf: int = 64, n_blocks: int = 9, n_down: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        c = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
            c *= 2
        layers += [ResidualBlock(c) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1),
                nn.InstanceNorm2d(c // 2),
                nn.ReLU(True),
            ]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, in_channels, 7), nn.Tanh()]
        self.layers = nn.Sequential(*layers)
        normal_init(self)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)


class PatchDiscriminator(nn.Module):
    """PatchGAN: C64-C128-C256-C512 (4x4 convs, LeakyReLU 0.2, InstanceNorm from the second),
    then a 1-channel conv: with ``n_layers=3`` each output sees a 70x70 patch."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for i in range(1, n_layers + 1):
            c_out = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, c_out, 4, stride, 1), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2, True)]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.layers = nn.Sequential(*layers)
        normal_init(self)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)
