"""A fully connected layer's weights drawn as images (one tile per unit)."""

from __future__ import annotations

import math

from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from callbacks.figures import image_grid, log_figure
from callbacks.layers import minmax, named_layer
from datamodules.base import LabDataModule
from labcore.errors import LabError


class WeightImages(Callback):
    """Draws the incoming weights of the first ``n`` units of the ``nn.Linear`` named ``layer``
    (e.g. ``net.layers.1``, an MLP's first layer) as images of the input's shape: 28x28 tiles
    on MNIST. Each tile is min-max scaled on its own. ``image_shape`` defaults to the data's
    ``input_shape``. Drawn at the end of fit, and before training too when ``before_training``.
    """

    def __init__(
        self, layer: str, n: int = 64, image_shape: list[int] | None = None, before_training: bool = False
    ) -> None:
        self.layer, self.n, self.image_shape = layer, n, image_shape
        self.before_training = before_training

    def _draw(self, trainer: Trainer, pl_module: LightningModule, when: str):
        module = named_layer(pl_module, self.layer)
        if not isinstance(module, nn.Linear):
            raise LabError(
                f"WeightImages: {self.layer} is a {type(module).__name__}, not nn.Linear; "
                f"use ConvFilters for conv layers"
            )
        dm = trainer.datamodule
        data_shape = dm.model_info().get("input_shape", []) if isinstance(dm, LabDataModule) else []
        shape = list(self.image_shape or data_shape)
        if math.prod(shape) != module.in_features:
            raise LabError(
                f"WeightImages: {self.layer} takes {module.in_features} inputs, not an image of "
                f"shape {shape}; pass image_shape"
            )
        w = module.weight.detach().float().cpu()[: self.n]
        tiles = minmax(w).view(-1, *shape)  # N x C x H x W
        tiles = tiles.permute(0, 2, 3, 1).numpy()
        tiles = tiles[..., 0] if shape[0] == 1 else tiles
        fig = image_grid(tiles, None, ncols=math.ceil(math.sqrt(len(tiles))), cmap="gray", size=1.0)
        fig.suptitle(f"{self.layer} weights ({when}), first {len(tiles)} of {module.out_features} units", y=1.02)
        return log_figure(trainer, fig, f"weights/{self.layer}_{when}")

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.before_training:
            self._draw(trainer, pl_module, "untrained")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, "trained")
