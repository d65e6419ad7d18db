"""Trainable vs frozen parameter counts, printed and logged at the start of fit."""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

from lab_modules.nets.params import count_parameters


class ParameterCounts(Callback):
    """Logs ``params/total``, ``params/trainable``, ``params/frozen`` (step 0) to every logger."""

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        total = count_parameters(pl_module)
        trainable = count_parameters(pl_module, trainable_only=True)
        counts = {"params/total": total, "params/trainable": trainable, "params/frozen": total - trainable}
        rank_zero_info(f"[dl-labs] parameters: {total:,} total, {trainable:,} trainable, {total - trainable:,} frozen")
        for logger in trainer.loggers:
            logger.log_metrics(counts, step=0)
