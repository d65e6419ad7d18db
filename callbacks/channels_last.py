"""The channels-last memory format for conv nets (NHWC), switched on by one callback entry:

    python cli.py fit --config LAB.yaml --trainer.callbacks+=callbacks.ChannelsLast --trainer.precision bf16-mixed

oneDNN (CPU) and cuDNN (GPU, tensor cores) run convolutions faster in NHWC, above all in bf16/fp16.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from labcore import log


def to_channels_last(batch: Any) -> int:
    """Convert every 4-d floating tensor of a dict batch to channels-last IN PLACE (the values are
    replaced; the dict is the one the step receives). Returns how many were converted."""
    if not isinstance(batch, dict):
        return 0
    n = 0
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.dim() == 4 and value.is_floating_point():
            batch[key] = value.contiguous(memory_format=torch.channels_last)
            n += 1
    return n


class ChannelsLast(Callback):
    """Puts the task module's 4-d weights (convolutions) and every 4-d float tensor of each batch into
    ``torch.channels_last``. The results are the same numbers up to float rounding.

    Lightning calls the ``on_*_batch_start`` hooks after the batch is on the device and before the
    step, with the same dict the step gets, so converting its values in place reaches the step. Nets
    without 4-d weights or inputs are left as they are (a no-op).
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        convs = sum(p.dim() == 4 for p in pl_module.parameters())
        pl_module.to(memory_format=torch.channels_last)  # only 4-d parameters and buffers change
        log.info(f"ChannelsLast: {convs} 4-d weight tensors in channels-last")

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        to_channels_last(batch)

    def on_validation_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        to_channels_last(batch)

    def on_test_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        to_channels_last(batch)

    def on_predict_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        to_channels_last(batch)
