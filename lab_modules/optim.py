"""Turns injected optimizer/scheduler callables into what ``configure_optimizers`` returns."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable


def build_optimizers(
    params: Iterable,
    optimizer: OptimizerCallable,
    lr_scheduler: LRSchedulerCallable | None,
    interval: str = "epoch",
    monitor: str = "val/loss",
    total_steps: int | None = None,
) -> Any:
    """Optimizer alone, or Lightning's dict with the scheduler stepped per ``interval``.

    ``monitor`` must be a metric logged under exactly that name (ReduceLROnPlateau).
    A scheduler that takes ``total_steps`` (OneCycleLR) and was not given it in the config
    gets the trainer's estimate, so the schedule always fits the run.
    """
    opt = optimizer(params)
    if lr_scheduler is None:
        return opt
    kwargs = {}
    if total_steps and _unset(lr_scheduler, "total_steps"):
        kwargs["total_steps"] = int(total_steps)
    sched = lr_scheduler(opt, **kwargs)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": interval, "monitor": monitor}}


def _unset(fn: Any, name: str) -> bool:
    """Whether ``fn`` (a class or a partial of one, as jsonargparse builds) takes ``name``
    and has no value for it yet."""
    bound = getattr(fn, "keywords", {}) or {}
    if name in bound:
        return bound[name] is None
    target = fn.args[-1] if getattr(fn, "args", None) else fn
    try:
        p = inspect.signature(target).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return p is not None and p.default in (None, inspect.Parameter.empty)
