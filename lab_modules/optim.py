"""Turns injected optimizer/scheduler callables into what ``configure_optimizers`` returns."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

# Device kinds whose fused optimizer kernels the labs run on; elsewhere the per-tensor default.
FUSED_DEVICE_TYPES = ("cpu", "cuda")


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
    opt = make_optimizer(optimizer, params)
    if lr_scheduler is None:
        return opt
    kwargs = {}
    if total_steps and _unset(lr_scheduler, "total_steps"):
        kwargs["total_steps"] = int(total_steps)
    sched = lr_scheduler(opt, **kwargs)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": interval, "monitor": monitor}}


def make_optimizer(optimizer: OptimizerCallable, params: Iterable) -> torch.optim.Optimizer:
    """``optimizer(params)``, with the optimizer's fused kernel where it has one and the config left it open.

    Adam, AdamW, SGD and Adagrad have fused CPU and GPU kernels: the same update, computed in one kernel over
    all parameters instead of a dozen small ops per tensor, which matters for small nets whose step is short.
    The reports' scripts use the per-tensor default. A config that sets ``fused``, ``foreach`` or
    ``differentiable`` gets exactly what it says; parameters the kernels do not take (sparse, integer, on
    another device kind) get the default, and so does an optimizer that refuses ``fused=True`` when built.
    """
    params = [_group(p) if isinstance(p, dict) else p for p in params]
    if _fusable(optimizer, params):
        try:
            return optimizer(params, fused=True)
        except (RuntimeError, ValueError):  # this torch build has no fused kernel for these parameters
            pass
    return optimizer(params)


def _group(group: dict) -> dict:
    """A param group with its parameters in a list (a generator would be used up by the check)."""
    ps = group["params"]
    return {**group, "params": [ps] if isinstance(ps, torch.Tensor) else list(ps)}


def _fusable(optimizer: OptimizerCallable, params: list) -> bool:
    if not (_unset(optimizer, "fused") and _unset(optimizer, "foreach")):
        return False
    if (getattr(optimizer, "keywords", None) or {}).get("differentiable"):
        return False
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    return bool(tensors) and all(
        isinstance(t, torch.Tensor)
        and t.is_floating_point()
        and not t.is_sparse
        and t.device.type in FUSED_DEVICE_TYPES
        for t in tensors
    )


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
