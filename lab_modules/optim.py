"""Turns injected optimizer/scheduler callables into what ``configure_optimizers`` returns."""

from __future__ import annotations

from typing import Any, Iterable

from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable


def build_optimizers(
    params: Iterable,
    optimizer: OptimizerCallable,
    lr_scheduler: LRSchedulerCallable | None,
    interval: str = "epoch",
    monitor: str = "val/loss",
) -> Any:
    """Optimizer alone, or Lightning's dict with the scheduler stepped per ``interval``.

    ``monitor`` must be a metric logged under exactly that name (ReduceLROnPlateau).
    """
    opt = optimizer(params)
    if lr_scheduler is None:
        return opt
    sched = lr_scheduler(opt)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": interval, "monitor": monitor}}
