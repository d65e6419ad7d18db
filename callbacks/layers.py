"""Helpers shared by the figure callbacks: layers picked by name, fixed example draws."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn

from datamodules.base import LabDataModule
from labcore.errors import LabError


def named_layer(pl_module: LightningModule, name: str) -> nn.Module:
    """``pl_module.get_submodule(name)`` (e.g. ``net.conv1``) with a one-line error listing
    the layers that exist."""
    try:
        return pl_module.get_submodule(name)
    except AttributeError:
        layers = [n for n, m in pl_module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        raise LabError(
            f"no layer named {name!r} in the model; conv/linear layers are: {', '.join(layers[:12])}"
        ) from None


def class_probabilities(pl_module: LightningModule, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """N x C class probabilities for a batch's ``inputs`` by the task contract (``LabTask.probabilities``):
    a one-logit binary classifier gives ``[1 - p, p]``, where a softmax or argmax over its one logit says class 0."""
    return pl_module.probabilities(pl_module(**inputs))


def dataset(trainer: Trainer, split: str):
    """The datamodule's in-memory dataset for ``split`` (None if it has none)."""
    dm = trainer.datamodule
    return dm.datasets.get(split) if isinstance(dm, LabDataModule) else None


def fixed_batch(ds, n: int, seed: int) -> dict[str, torch.Tensor]:
    """The same ``n`` examples of ``ds`` every call (seeded draw), as one batch dict."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n].tolist()
    items = [ds[i] for i in idx]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def normalization(trainer: Trainer) -> tuple:
    """The datamodule's ``display_normalization()``: (mean, std) when its images are normalised, else (None, None)."""
    dm = trainer.datamodule
    return dm.display_normalization() if isinstance(dm, LabDataModule) else (None, None)


def minmax(x: torch.Tensor) -> torch.Tensor:
    """Scale each item of a batch ``N x ...`` to [0, 1] on its own."""
    flat = x.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(x)
