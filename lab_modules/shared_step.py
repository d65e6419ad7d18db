"""The train/val/test step dispatch that most task modules share."""

from __future__ import annotations

from typing import Any

from torch import Tensor


class SharedStep:
    """Mixin (list it before ``LightningModule``): every stage calls ``self._step(batch, stage)``,
    which computes and logs the loss and metrics under ``<stage>/...``."""

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        raise NotImplementedError

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Any:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")
