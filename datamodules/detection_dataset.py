"""Detection datasets: ``(uint8 image, boxes, labels, ignore)`` items, transformed with their boxes, padded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from datamodules.detection_readers import DetectionRecords
from labcore import log
from labcore.errors import DataSourceError

Item = tuple[Tensor, Tensor, Tensor, Tensor]  # uint8 C x H x W image, K x 4 boxes, K labels, K ignore flags


class BoxTransform:
    """torchvision v2 on ``(tv_tensors.Image, tv_tensors.BoundingBoxes, labels)``: resize to ``size`` x ``size``
    (boxes scaled with the image), then, for training, a random horizontal flip (``flip_p``) and a random
    resized crop (``crop_p``, area share ``crop_scale`` .. 1). Boxes move with every geometric op."""

    def __init__(self, size: int, flip_p: float = 0.0, crop_p: float = 0.0, crop_scale: float = 0.5) -> None:
        self.size = size
        ops: list[Any] = []
        if crop_p > 0:
            ops.append(v2.RandomApply([v2.RandomResizedCrop(size, scale=(crop_scale, 1.0), antialias=True)], p=crop_p))
        if flip_p > 0:
            ops.append(v2.RandomHorizontalFlip(p=flip_p))
        self.augment = v2.Compose(ops) if ops else None

    def __call__(self, image: Tensor, boxes: Tensor, labels: Tensor) -> Item:
        h, w = image.shape[-2:]
        img = tv_tensors.Image(image)
        bb = tv_tensors.BoundingBoxes(boxes.reshape(-1, 4), format="XYXY", canvas_size=(h, w))
        if (h, w) != (self.size, self.size):
            img, bb = (
                v2.functional.resize(img, [self.size, self.size], antialias=True),
                v2.functional.resize(bb, [self.size, self.size]),
            )
        if self.augment is not None:
            img, bb, labels = self.augment(img, bb, labels)
        return img.as_subclass(Tensor), bb.as_subclass(Tensor).float(), labels


def drop_degenerate(boxes: Tensor, labels: Tensor, size: int, min_size: float) -> tuple[Tensor, Tensor, int]:
    """Clip boxes to the ``size`` x ``size`` image and drop those narrower or lower than ``min_size``."""
    boxes = boxes.clamp(0, size)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    return boxes[keep], labels[keep], int((~keep).sum())


class DetectionDataset(Dataset):
    """``load(i) -> (uint8 image, boxes, labels[, ignore])`` for ``n`` items -> transformed, padded batches.

    ``transform``: :class:`BoxTransform` (resizes, and augments for training) and optionally an
    ``augment`` (albumentations, ``.boxes(image, boxes, labels)``) after it.

    Training (``ignore_regions`` False): ignore regions (difficult / crowd) are left out, and boxes
    thinner than ``min_box_size`` after the transforms are dropped and counted (``dropped``), with a
    warning at 1, 10, 100, ... dropped boxes. Evaluation (``ignore_regions`` True): nothing is
    dropped; ignore regions and boxes under ``min_box_size`` come as ``iscrowd`` 1, so the mAP
    neither rewards nor punishes a detection on them (as the VOC and COCO evaluations do).
    """

    def __init__(
        self,
        load: Callable[[int], Item],
        n: int,
        transform: BoxTransform,
        augment: Any = None,
        min_box_size: float = 2.0,
        ignore_regions: bool = False,
    ) -> None:
        self.load, self.n, self.transform, self.augment = load, n, transform, augment
        self.min_box_size, self.ignore_regions = min_box_size, ignore_regions
        self.dropped, self._warn_at = 0, 1

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = self.load(i)
        image, boxes, labels = item[:3]
        ignore = item[3].bool() if len(item) > 3 else torch.zeros(len(labels), dtype=torch.bool)
        orig = torch.tensor(image.shape[-2:])
        if self.ignore_regions:
            image, boxes, labels = self.transform(image, boxes, labels)
            boxes = boxes.clamp(0, self.transform.size)
            small = ((boxes[:, 2] - boxes[:, 0]) < self.min_box_size) | (
                (boxes[:, 3] - boxes[:, 1]) < self.min_box_size
            )
            ignore = ignore | small
        else:
            image, boxes, labels = self.transform(image, boxes[~ignore], labels[~ignore])
            dropped = 0
            if self.augment is not None:
                image, boxes, labels, dropped = self.augment.boxes(image, boxes, labels)
            boxes, labels, n_bad = drop_degenerate(boxes, labels, self.transform.size, self.min_box_size)
            self._count(dropped + n_bad)
            ignore = torch.zeros(len(labels), dtype=torch.bool)
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        return {
            "image": image.float() / 255,
            "boxes": boxes,
            "labels": labels,
            "iscrowd": ignore.long(),
            "orig_size": orig,
            "index": torch.tensor(i),
        }

    def _count(self, n: int) -> None:
        self.dropped += n
        if n and self.dropped >= self._warn_at:
            log.warn(
                f"detection: {self.dropped} boxes dropped so far (cropped away or thinner than "
                f"{self.min_box_size} px after the transforms)"
            )
            while self._warn_at <= self.dropped:
                self._warn_at *= 10

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        return pad_batch([self[i] for i in indices])


def pad_batch(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack items; ``boxes`` / ``labels`` / ``iscrowd`` padded to the batch's largest box count
    (labels -1, boxes 0, iscrowd 0)."""
    m = max((len(it["labels"]) for it in items), default=0)
    boxes = torch.zeros(len(items), m, 4)
    labels = torch.full((len(items), m), -1, dtype=torch.long)
    crowd = torch.zeros(len(items), m, dtype=torch.long)
    for j, it in enumerate(items):
        k = len(it["labels"])
        boxes[j, :k], labels[j, :k] = it["boxes"], it["labels"]
        if "iscrowd" in it:
            crowd[j, :k] = it["iscrowd"]
    out = {"image": torch.stack([it["image"] for it in items]), "boxes": boxes, "labels": labels, "iscrowd": crowd}
    return {
        **out,
        "orig_size": torch.stack([it["orig_size"] for it in items]),
        "index": torch.stack([it["index"] for it in items]),
    }


class CanvasItems:
    """``(image, boxes, labels)`` of generated canvases by index (a class, not a lambda: ddp_spawn pickles it)."""

    def __init__(self, canvases: Any) -> None:
        self.c = canvases

    def __call__(self, i: int) -> Item:
        labels = self.c.labels[i]
        return self.c.images[i], self.c.boxes[i], labels, torch.zeros(len(labels), dtype=torch.bool)


class RecordItems:
    """``(image, boxes, labels, ignore)`` of VOC / COCO records by index; boxes of classes not in ``index`` are
    left out."""

    def __init__(self, records: DetectionRecords, index: dict[str, int]) -> None:
        self.records, self.index = records, index

    def __call__(self, i: int) -> Item:
        rec, index = self.records, self.index
        keep = [j for j, n in enumerate(rec.names[i]) if n in index]
        boxes = torch.tensor([rec.boxes[i][j] for j in keep], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([index[rec.names[i][j]] for j in keep], dtype=torch.long)
        flags = rec.ignore[i] if rec.ignore else [False] * len(rec.names[i])
        ignore = torch.tensor([flags[j] for j in keep], dtype=torch.bool)
        return load_image(rec.files[i]), boxes, labels, ignore


def load_image(path: Path) -> Tensor:
    if not path.exists():
        raise DataSourceError(f"detection: image {path} is missing")
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).contiguous()
