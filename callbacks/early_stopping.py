"""Early stopping on the task's monitored metric unless told otherwise."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping

from lab_modules.task import AUTO, resolve_monitor
from labcore.errors import LabError


class TaskEarlyStopping(EarlyStopping):
    """Lightning's ``EarlyStopping`` whose ``monitor`` and ``mode`` default to the task module's
    declaration (``LabTask.monitor`` / ``monitor_mode``, e.g. ``val/acc`` / ``max`` for a classifier),
    the same metric the best checkpoint follows. Patience counts validation checks, not epochs."""

    def __init__(self, monitor: str = AUTO, mode: str = AUTO, **kwargs: Any) -> None:
        super().__init__(monitor=monitor, mode="min" if mode == AUTO else mode, **kwargs)
        self._asked = (monitor, mode)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        monitor, mode = resolve_monitor(pl_module, *self._asked, where="trainer.callbacks.TaskEarlyStopping")
        if monitor is None:
            raise LabError("TaskEarlyStopping: this task declares no monitored metric; pass init_args.monitor and mode")
        self.monitor, self.mode = monitor, mode
        self.min_delta = abs(self.min_delta) * (1 if mode == "max" else -1)
        if self.wait_count == 0 and not torch.isfinite(self.best_score):  # not restored from a checkpoint
            self.best_score = torch.tensor(-torch.inf if mode == "max" else torch.inf)
        super().setup(trainer, pl_module, stage)
