"""Convolutional autoencoder for denoising: stride-2 convs down, transposed convs up, sigmoid."""

from __future__ import annotations

from torch import Tensor, nn


class ConvAutoencoder(nn.Module):
    """Encoder: for each width in ``channels`` a stride-2 3x3 conv (+ ``extra_convs`` 3x3 convs at
    that scale); the decoder mirrors it with stride-2 transposed convs; sigmoid output in [0, 1].
    The report: ``channels=[16, 8]`` (1-16-8 / ConvT 8-16-1), no extra convs."""

    def __init__(self, in_channels: int = 1, channels: list[int] = [16, 8], extra_convs: int = 0) -> None:  # noqa: B006
        super().__init__()
        enc: list[nn.Module] = []
        c = in_channels
        for w in channels:
            enc += [nn.Conv2d(c, w, 3, 2, 1), nn.ReLU(True)]
            for _ in range(extra_convs):
                enc += [nn.Conv2d(w, w, 3, padding=1), nn.ReLU(True)]
            c = w
        dec: list[nn.Module] = []
        outs = list(reversed(channels[:-1])) + [in_channels]
        for i, w in enumerate(outs):
            last = i == len(outs) - 1
            for _ in range(extra_convs):
                dec += [nn.Conv2d(c, c, 3, padding=1), nn.ReLU(True)]
            dec.append(nn.ConvTranspose2d(c, w, 3, 2, 1, output_padding=1))
            dec.append(nn.Sigmoid() if last else nn.ReLU(True))
            c = w
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def forward(self, image: Tensor) -> Tensor:
        return self.decoder(self.encoder(image))
