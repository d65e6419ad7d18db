"""A Rich progress bar that costs next to nothing per batch."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar


class LabProgressBar(RichProgressBar):
    """``RichProgressBar`` that touches the bar every ``update_every`` batches (and on the last).

    Lightning's bar updates the Rich task and re-reads every progress-bar metric after each
    training batch (~0.2 ms); for a small net's 3 ms CPU step that is 7% of the run, while the
    screen is only redrawn ``refresh_rate`` times a second anyway. (Validation, test and predict
    batches only move the bar, which is cheap.)
    """

    def __init__(self, update_every: int = 10, refresh_rate: int = 4, leave: bool = True, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave, **kwargs)
        self.update_every = max(1, update_every)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        n = batch_idx + 1
        if n % self.update_every == 0 or n >= self.total_train_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """Lightning's items plus the task's step values (``LabTask.log_step_values``), which bypass ``self.log``."""
        return {**super().get_metrics(trainer, pl_module), **getattr(pl_module, "step_bar_values", {})}
