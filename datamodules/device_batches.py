"""GPU-resident batches for the in-memory tensor datasets (``--data.init_args.on_device true``).

A small in-memory set (MNIST, the CIFAR subset, tables, series) trains so fast on a GPU that a Python
loader plus a host-to-device copy per batch starves it. With ``on_device`` set and the trainer on a CUDA
device, the loaders serve a *copy* of each split's dataset whose tensors live on that device (moved once per
split and kept); batches are cut there by an index tensor on the device, the standard augmentation (random
crop with padding + horizontal flip) runs batched there, the loaders use no workers and no pinning, and
Lightning's batch transfer is a no-op. ``datasets[split]`` itself stays in host memory, so figure callbacks,
prediction writers and the series' window tables read it as before. The samplers are the same, so the
seeded order and the resumable position (``datamodules.resumable``) do not change. Under DDP every rank
moves its own copy to its own device (each rank builds its own loaders). On a CPU trainer the option is a
no-op, said once.

A dataset opts in with the class attribute ``device_batches = True``: every tensor attribute is moved, and
its ``__getitems__`` must build the index tensor on the data's device. A per-sample ``transform`` is replaced
by its batched equivalent (:func:`batched_transform`); one without one is an error.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from labcore import log
from labcore.errors import LabError

OPTION = "--data.init_args.on_device"


class BatchedCropFlip:
    """Random crop (after zero padding) and horizontal flip of a whole ``N x C x H x W`` batch, each sample
    with its own offsets and coin, on the batch's device: the batched form of
    ``v2.Compose([v2.RandomCrop(size, padding), v2.RandomHorizontalFlip(p)])`` (same output distribution;
    the random numbers come from the global generator of the batch's device).

    Args:
        padding: ``(left, top, right, bottom)`` zeros added before cropping.
        size: ``(h, w)`` of the crop; None: the input's size (no crop without padding).
        flip_p: probability of a horizontal flip (0: none).
    """

    def __init__(self, padding: Sequence[int] = (0, 0, 0, 0), size: tuple[int, int] | None = None, flip_p: float = 0.0):
        self.padding, self.size, self.flip_p = tuple(int(p) for p in padding), size, float(flip_p)

    def __call__(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        left, top, right, bottom = self.padding
        oh, ow = self.size or (h, w)
        if any(self.padding):
            x = F.pad(x, (left, right, top, bottom))
        ph, pw = x.shape[-2:]
        if oh > ph or ow > pw:
            raise LabError(f"random crop {oh}x{ow} is larger than the padded images ({ph}x{pw}); check the image size")
        dev = x.device
        rows = torch.randint(0, ph - oh + 1, (n, 1), device=dev) + torch.arange(oh, device=dev)  # n x oh
        cols = torch.randint(0, pw - ow + 1, (n, 1), device=dev) + torch.arange(ow, device=dev)  # n x ow
        if self.flip_p > 0:
            flip = torch.rand(n, 1, device=dev) < self.flip_p
            cols = torch.where(flip, cols.flip(1), cols)
        # one gather does crop and flip: out[i, k, r, s] = x[i, k, rows[i, r], cols[i, s]]
        return x[
            torch.arange(n, device=dev)[:, None, None, None],
            torch.arange(c, device=dev)[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]


def batched_transform(transform: Any, where: str) -> BatchedCropFlip:
    """The batched equivalent of a per-sample ``transform`` made of ``v2.RandomCrop`` (zero padding) and/or
    ``v2.RandomHorizontalFlip`` (in that order, as ``augment`` builds it); anything else is a one-line error."""
    from torchvision.transforms import v2  # here: only image datasets with a transform reach it

    def flat(t: Any) -> list[Any]:  # the datamodule wraps augment + train_transform in one more Compose
        return [s for x in t.transforms for s in flat(x)] if isinstance(t, v2.Compose) else [t]

    steps = flat(transform)
    crop = steps.pop(0) if steps and type(steps[0]) is v2.RandomCrop else None
    flip = steps.pop(0) if steps and type(steps[0]) is v2.RandomHorizontalFlip else None
    plain_crop = crop is None or (not crop.pad_if_needed and crop.padding_mode == "constant" and crop.fill in (0, None))
    if steps or not plain_crop or (crop is None and flip is None):
        raise LabError(
            f"{where}: {OPTION} runs only the standard augmentation (random crop with zero padding + horizontal "
            f"flip) batched on the device, not {transform!r}; drop --data.init_args.train_transform or {OPTION}"
        )
    padding = (crop.padding or [0, 0, 0, 0]) if crop is not None else [0, 0, 0, 0]
    return BatchedCropFlip(
        padding=padding,
        size=tuple(crop.size) if crop is not None else None,
        flip_p=flip.p if flip is not None else 0.0,
    )


def to_device(ds: Dataset, device: torch.device, where: str) -> Dataset:
    """A shallow copy of ``ds`` with every tensor attribute on ``device`` (and a per-sample ``transform``
    replaced by its batched form); ``ds`` itself is left as it was."""
    _check(ds, where)
    moved = copy.copy(ds)
    for name, value in vars(ds).items():
        if isinstance(value, Tensor):
            setattr(moved, name, value.to(device))
    if getattr(ds, "transform", None) is not None:
        moved.batch_transform = batched_transform(ds.transform, where)
        moved.transform = None
    return moved


def trainer_device(dm: Any) -> torch.device | None:
    """The attached trainer's device (``strategy.root_device``: this rank's under DDP), or None."""
    trainer = getattr(dm, "trainer", None)
    return trainer.strategy.root_device if trainer is not None else None


_NOTED: weakref.WeakSet = weakref.WeakSet()


def served(dm: Any, key: str) -> Dataset:
    """What the loader of split ``key`` serves: ``dm.datasets[key]``, or under ``dm.on_device`` its copy on
    ``dm.batch_device`` (when set: tests force ``cpu``) or else on the trainer's CUDA device, moved once and
    kept while ``datasets[key]`` is the same object."""
    ds = dm.datasets[key]
    if not dm.on_device:
        return ds
    device = torch.device(dm.batch_device) if dm.batch_device is not None else trainer_device(dm)
    if device is None or (dm.batch_device is None and device.type != "cuda"):
        _check(ds, dm.name)
        if dm not in _NOTED:  # once per datamodule
            _NOTED.add(dm)
            log.info(f"{dm.name}: {OPTION} has no effect on {device or 'a CPU'}; batches come from host memory")
        return ds
    copies: dict[str, tuple[Dataset, torch.device, Dataset]] = dm.__dict__.setdefault("_device_copies", {})
    hit = copies.get(key)
    if hit is not None and hit[0] is ds and hit[1] == device:
        return hit[2]
    moved = to_device(ds, device, dm.name)
    copies[key] = (ds, device, moved)
    size = sum(v.numel() * v.element_size() for v in vars(moved).values() if isinstance(v, Tensor))
    log.info(f"{dm.name}: {key} split ({len(ds)} examples, {size / 2**20:.1f} MiB) moved to {device} once")
    return moved


def _check(ds: Dataset, where: str) -> None:
    """A one-line error for a dataset ``on_device`` cannot serve; run on a CPU trainer too, so that a config
    fails alike with and without a GPU."""
    if not getattr(ds, "device_batches", False):
        raise LabError(
            f"{where}: {OPTION} serves only the in-memory tensor datasets (images, tables, series), not "
            f"{type(ds).__name__}; drop {OPTION}"
        )
    if getattr(ds, "transform", None) is not None:
        batched_transform(ds.transform, where)
