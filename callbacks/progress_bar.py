"""Lightning's Rich progress bar, touched every few training batches instead of after each one."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar


class LabProgressBar(RichProgressBar):
    """``RichProgressBar`` (public options only) that updates its training task every ``update_every`` batches
    and on the last one.

    Lightning's bar updates the Rich task and re-reads every progress-bar metric after each training batch,
    a visible share of a small net's CPU step, while the screen is only redrawn
    ``refresh_rate`` times a second anyway. ``leave=False`` (Lightning's default) keeps one bar for the whole
    fit: with ``leave=True`` the bar is stopped and restarted at every epoch's start, and each stop waits for
    the redraw thread's sleep (up to ``1 / refresh_rate`` s an epoch).
    """

    def __init__(self, update_every: int = 10, refresh_rate: int = 4, leave: bool = False, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave, **kwargs)
        self.update_every = max(1, update_every)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        n = batch_idx + 1
        if n % self.update_every == 0 or n >= self.total_train_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
