"""What kind of process launch a trainer uses (Lightning names its launchers privately)."""

from __future__ import annotations

from lightning.pytorch import Trainer
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher


def spawns_workers(trainer: Trainer) -> bool:
    """Whether this process only launches and waits for the training processes (``ddp_spawn``, ``ddp_fork``)."""
    return isinstance(trainer.strategy.launcher, _MultiProcessingLauncher)
