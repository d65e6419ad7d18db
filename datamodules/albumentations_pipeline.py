"""albumentations pipelines for the dense datamodules, applied jointly to image + mask or image + boxes.

A pipeline is given as ``augment``:

- a serialised pipeline file (``.yaml`` / ``.yml`` / ``.json``, written with ``A.save``), e.g.
  ``configs/augment/unet_elastic.yaml``; a relative path is looked up from the working directory,
  then from the project root;
- or named options separated by commas, e.g. ``hflip,vflip,rot90,elastic,grid`` (see ``NAMED``).

albumentations 2.0.x is the last MIT-licensed release (its successor AlbumentationsX is AGPL), hence
the pin ``albumentations>=2.0,<2.1``. Files are rebuilt around our own ``bbox_params`` (pascal_voc,
``labels`` field, clipping, ``min_box_size``), so a file written for masks also moves boxes; boxes the
pipeline removes (cropped away or thinner than ``min_box_size``) are counted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch import Tensor

from labcore.errors import LabError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

# Named options: each builds one albumentations transform.
NAMED: dict[str, Callable[[], A.BasicTransform]] = {
    "hflip": lambda: A.HorizontalFlip(p=0.5),
    "vflip": lambda: A.VerticalFlip(p=0.5),
    "rot90": lambda: A.RandomRotate90(p=1.0),
    "elastic": lambda: A.ElasticTransform(alpha=34.0, sigma=4.0, p=0.5),
    "grid": lambda: A.GridDistortion(num_steps=5, distort_limit=0.3, p=0.3),
    "affine": lambda: A.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1), p=0.5),
    "brightness": lambda: A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
    "blur": lambda: A.GaussianBlur(blur_limit=(3, 5), p=0.2),
}


def find_pipeline_file(spec: str) -> Path | None:
    """The file ``spec`` names (from the working directory, else the project root), or None when ``spec``
    is not a file name."""
    if Path(spec).suffix.lower() not in SUFFIXES:
        return None
    for cand in (Path(spec).expanduser(), PROJECT_ROOT / spec):
        if cand.is_file():
            return cand
    raise LabError(f"augment: pipeline file {spec} not found; pass an A.save YAML/JSON file or named options")


def pipeline_transforms(spec: str | list[str]) -> list[A.BasicTransform]:
    """The transforms of a pipeline file or of named options (see the module docstring)."""
    names = spec if isinstance(spec, list) else None
    if names is None:
        path = find_pipeline_file(spec)
        if path is not None:
            try:
                loaded = A.load(str(path), data_format=SUFFIXES[path.suffix.lower()])
            except Exception as e:  # noqa: BLE001 - any parse error is the file's fault: one line
                raise LabError(f"augment: cannot load {path} with A.load ({type(e).__name__}: {e})") from None
            return list(loaded.transforms) if isinstance(loaded, A.BaseCompose) else [loaded]
        names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMED]
    if unknown:
        raise LabError(
            f"augment: unknown option(s) {', '.join(unknown)}; use {', '.join(NAMED)} or a .yaml/.json pipeline file"
        )
    return [NAMED[n]() for n in names]


class AlbumentationsJoint:
    """An albumentations pipeline on uint8 ``C x H x W`` tensors, moving a mask or boxes with the image.

    ``for_masks``: ``__call__(image, mask) -> (image, mask)`` (what the segmentation datasets call);
    ``for_boxes``: ``boxes(image, boxes, labels) -> (image, boxes, labels, dropped)``.
    ``prepend``: transforms run first (e.g. the segmentation datamodule's random crop).
    """

    def __init__(
        self,
        spec: str | list[str],
        with_boxes: bool = False,
        min_box_size: float = 1.0,
        prepend: list[A.BasicTransform] | None = None,
    ) -> None:
        self.spec = spec
        transforms = [*(prepend or []), *pipeline_transforms(spec)]
        bbox = (
            A.BboxParams(
                format="pascal_voc",
                label_fields=["labels"],
                min_width=min_box_size,
                min_height=min_box_size,
                clip=True,
                filter_invalid_bboxes=True,
            )
            if with_boxes
            else None
        )
        self.compose = A.Compose(transforms, bbox_params=bbox)
        self._seeded_from: int | None = None

    def _seed(self) -> None:
        # albumentations has its own generator: seed it from torch's (per process and DataLoader worker), and
        # again whenever torch's seed changed (each training batch reads under its own seed: SeededFetch)
        seed = torch.initial_seed()
        if seed != self._seeded_from:
            self.compose.set_random_seed(int(seed % 2**32))
            self._seeded_from = seed

    def __call__(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        self._seed()
        out = self.compose(image=_hwc(image), mask=mask[0].numpy() if mask.dim() == 3 else mask.numpy())
        m = torch.from_numpy(np.ascontiguousarray(out["mask"]))
        return _chw(out["image"]), m.unsqueeze(0) if mask.dim() == 3 else m

    def boxes(self, image: Tensor, boxes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
        self._seed()
        out = self.compose(image=_hwc(image), bboxes=boxes.numpy().reshape(-1, 4), labels=labels.numpy())
        new_boxes = torch.as_tensor(np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4))
        new_labels = torch.as_tensor(np.asarray(out["labels"], dtype=np.int64).reshape(-1))
        return _chw(out["image"]), new_boxes, new_labels, len(labels) - len(new_labels)

    def __getstate__(self) -> dict[str, Any]:  # ddp_spawn / workers pickle it: fresh seeding on the other side
        return {**self.__dict__, "_seeded_from": None}


def _hwc(image: Tensor) -> np.ndarray:
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


def _chw(image: np.ndarray) -> Tensor:
    x = torch.from_numpy(np.ascontiguousarray(image))
    return (x.unsqueeze(-1) if x.dim() == 2 else x).permute(2, 0, 1).contiguous()
