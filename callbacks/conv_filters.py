"""A conv layer's kernels as a grid of small images."""

from __future__ import annotations

import math

from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from callbacks.figures import image_grid, log_figure
from callbacks.layers import minmax, named_layer
from labcore.errors import LabError


class ConvFilters(Callback):
    """Draws the kernels of the ``nn.Conv2d`` named ``layer`` (e.g. ``net.conv1``,
    ``net.features.0``): with 3 input channels as RGB, with 1 as grey, otherwise the mean over
    input channels; each kernel min-max scaled on its own. 16 filters make a 4x4 grid.
    Drawn at the end of fit (trained weights), and before training too when ``before_training``.
    """

    def __init__(self, layer: str, max_filters: int = 64, before_training: bool = False) -> None:
        self.layer, self.max_filters, self.before_training = layer, max_filters, before_training

    def _draw(self, trainer: Trainer, pl_module: LightningModule, when: str):
        module = named_layer(pl_module, self.layer)
        if not isinstance(module, nn.Conv2d):
            raise LabError(f"ConvFilters: {self.layer} is a {type(module).__name__}, not nn.Conv2d")
        w = module.weight.detach().float().cpu()[: self.max_filters]  # out x in x kh x kw
        if w.shape[1] not in (1, 3):
            w = w.mean(1, keepdim=True)
        tiles = minmax(w).permute(0, 2, 3, 1).numpy()
        tiles = tiles[..., 0] if tiles.shape[-1] == 1 else tiles
        fig = image_grid(
            tiles, [str(i) for i in range(len(tiles))], ncols=math.ceil(math.sqrt(len(tiles))), cmap="gray"
        )
        k = "x".join(map(str, module.kernel_size))
        fig.suptitle(f"{self.layer}: {len(tiles)} of {module.out_channels} {k} kernels ({when})", y=1.02)
        return log_figure(trainer, fig, f"filters/{self.layer}_{when}")

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.before_training:
            self._draw(trainer, pl_module, "untrained")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, "trained")
