"""Images and binary masks from a folder pair (ISBI 2012 membrane layout), with joint transforms."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from datamodules.base import EMBEDDED_DIR, LabDataModule, split_indices
from datamodules.checks import at_least, fractions
from datamodules.readers import IMAGE_SUFFIXES, open_image
from labcore import log
from labcore.errors import DataSourceError, LabError

FOLDER_PAIRS = [("image", "label"), ("images", "masks"), ("images", "labels"), ("image", "mask")]


def natural_key(stem: str) -> list:
    """Sort key that orders numbers by value: ``slice2`` before ``slice10``."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", stem) if t]


def find_pairs(root: Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` files matched by stem from the first folder pair found under ``root``, in the
    files' natural order (numbers by value: ``2.png`` before ``10.png``)."""
    for img_dir, mask_dir in FOLDER_PAIRS:
        if (root / img_dir).is_dir() and (root / mask_dir).is_dir():
            masks = {f.stem: f for f in (root / mask_dir).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES}
            images = sorted(f for f in (root / img_dir).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            pairs = [(f, masks[f.stem]) for f in images if f.stem in masks]
            if not pairs:
                raise DataSourceError(
                    f"segmentation: no image in {root / img_dir} has a mask of the same name in {root / mask_dir}"
                )
            unmatched = [f.name for f in images if f.stem not in masks]
            if unmatched:
                log.warn(
                    f"segmentation: {len(unmatched)} of {len(images)} images in {root / img_dir} have no mask of the "
                    f"same name in {root / mask_dir} and are left out, e.g. {unmatched[:3]}"
                )
            orphans = len(masks) - len(pairs)
            if orphans:
                log.warn(f"segmentation: {orphans} masks in {root / mask_dir} have no image and are left out")
            return sorted(pairs, key=lambda p: natural_key(p[0].stem))
    raise DataSourceError(
        f"segmentation: no image/ and label/ (or images/ and masks/) folders under {root}; "
        "pass --data.init_args.path DIR holding them"
    )


def read_pairs(
    pairs: list[tuple[Path, Path]], size: int | None, channels: int, threshold: int
) -> tuple[Tensor, Tensor]:
    mode = "L" if channels == 1 else "RGB"
    images, masks = [], []
    for img_path, mask_path in pairs:
        im, mk = open_image(img_path, mode, img_path), open_image(mask_path, "L", mask_path)
        if size is not None:
            im, mk = im.resize((size, size), Image.BILINEAR), mk.resize((size, size), Image.NEAREST)
        images.append(np.asarray(im))
        masks.append(np.asarray(mk) > threshold)
    if len({a.shape for a in images}) != 1:
        raise DataSourceError("segmentation: images have different sizes; pass --data.init_args.image_size N")
    x = torch.from_numpy(np.stack(images))
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    return x.contiguous(), torch.from_numpy(np.stack(masks)).unsqueeze(1).to(torch.uint8)


class RandomRot90:
    """Rotate image and mask together by the same random multiple of 90 degrees."""

    def __call__(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        k = int(torch.randint(4, ()))
        return torch.rot90(image, k, dims=(-2, -1)), torch.rot90(mask, k, dims=(-2, -1))


class JointTransform:
    """torchvision v2 ops on ``(tv_tensors.Image, tv_tensors.Mask)``: masks get nearest-neighbour
    resampling, the image bilinear, and both the same random parameters."""

    def __init__(
        self,
        crop_size: int | None,
        flips: bool,
        rot90: bool,
        elastic_p: float,
        elastic_alpha: float = 34.0,
        elastic_sigma: float = 4.0,
    ) -> None:
        ops: list[Any] = []
        if crop_size:
            ops.append(v2.RandomCrop(crop_size))
        if flips:
            ops += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]
        if elastic_p > 0:
            ops.append(v2.RandomApply([v2.ElasticTransform(alpha=elastic_alpha, sigma=elastic_sigma)], p=elastic_p))
        self.v2 = v2.Compose(ops) if ops else None
        self.rot90 = RandomRot90() if rot90 else None

    def __call__(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.v2 is not None:
            image, mask = self.v2(tv_tensors.Image(image), tv_tensors.Mask(mask))
        if self.rot90 is not None:
            image, mask = self.rot90(image, mask)
        return image.as_subclass(Tensor), mask.as_subclass(Tensor)


class SegmentationDataset(Dataset):
    """uint8 images and {0, 1} masks in memory -> ``{"image": standardised float, "mask": float}``.
    ``repeats``: each image appears that many times per epoch (with fresh random transforms)."""

    def __init__(
        self,
        images: Tensor,
        masks: Tensor,
        mean: float,
        std: float,
        transform: JointTransform | None = None,
        repeats: int = 1,
    ) -> None:
        self.images, self.masks, self.mean, self.std = images, masks, mean, std
        self.transform, self.repeats = transform, repeats

    def __len__(self) -> int:
        return len(self.images) * self.repeats

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        image, mask = self.images[i % len(self.images)], self.masks[i % len(self.images)]
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return {"image": (image.float() / 255 - self.mean) / self.std, "mask": mask.float()}


class SegmentationFolderDataModule(LabDataModule):
    """Binary segmentation from an images folder and a masks folder with matching file names
    (``image/`` + ``label/``, or ``images/`` + ``masks/``). ``embedded``: the 30 ISBI 2012 EM slices
    downscaled to 192 x 192 (white = cell interior = 1, black = membrane = 0);
    ``path``: e.g. ``../shared/data/isbi2012_membrane/train`` (512 x 512).

    The pairs are in file order (numeric stems by value) and split ``ordered`` by default: the
    ISBI slices are consecutive serial sections, neighbours nearly alike, so a random split would
    put a test slice's neighbours into training. Training takes the first block, validation the
    next ``val_fraction``, test the last ``test_fraction``, each one contiguous
    (``--data.init_args.split random`` for data whose files are unrelated). Training uses joint
    random crops, flips, 90-degree rotations and (with probability ``elastic_p``) elastic
    deformation, or, with ``augment``, an albumentations pipeline (named options or an ``A.save`` file,
    see ``datamodules.albumentations_pipeline``) after the random crop; validation and test see whole
    images, unaugmented. Images are standardised with
    the mean/std of the training images (the data state, kept in the checkpoint).

    Args:
        image_size: resize on load (None: keep the files' size).
        crop_size: side of the random training crops (None: whole images).
        mask_threshold: mask pixels above it are foreground; ``invert_masks`` swaps the classes.
        split: ``ordered`` (default), ``random`` (seeded by ``split_seed``).
        repeats: passes over the training images per epoch.
        augment: albumentations pipeline instead of the torchvision v2 flips / rot90 / elastic options:
            comma-separated names (``hflip,vflip,rot90,elastic,grid``) or a YAML/JSON pipeline file
            (e.g. ``configs/augment/unet_elastic.yaml``).
        from_checkpoint: take the data state from this checkpoint (cli.py fills it from ``--ckpt_path``).
    """

    name = "segmentation"
    how_to_get = "pass --data.init_args.path DIR with image/ and label/ (or images/ and masks/) folders"
    default_split = "ordered"

    def __init__(
        self,
        image_size: int | None = None,
        channels: int = 1,
        crop_size: int | None = None,
        flips: bool = True,
        rot90: bool = True,
        elastic_p: float = 0.0,
        mask_threshold: int = 127,
        invert_masks: bool = False,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        batch_size: int = 4,
        eval_batch_size: int = 1,
        repeats: int = 1,
        augment: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the ``LabDataModule`` arguments (``source``, ``path``, ``split``, ``split_seed``, ...)."""
        if kwargs.get("source") == "download":
            raise DataSourceError(f"segmentation: no download available; {self.how_to_get}")
        if kwargs.get("on_device"):
            raise LabError(f"{self.name}: on_device is for in-memory tensor data; leave --data.init_args.on_device out")
        at_least(self.name, 1, image_size=image_size, crop_size=crop_size, repeats=repeats, channels=channels)
        fractions(self.name, val_fraction=val_fraction, test_fraction=test_fraction)
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, **kwargs)
        self.save_hyperparameters()
        self.image_size, self.channels, self.crop_size = image_size, channels, crop_size
        self.transform: Any = JointTransform(crop_size, flips, rot90, elastic_p)
        if augment:
            import albumentations as A

            from datamodules.albumentations_pipeline import AlbumentationsJoint

            self.transform = AlbumentationsJoint(
                augment, prepend=[A.RandomCrop(crop_size, crop_size)] if crop_size else []
            )
        self.indices: dict[str, Tensor] = {}  # positions of each split's pairs in file order

    @property
    def mean(self) -> float:
        return float(self.data_state.get("mean", 0.5))

    @property
    def std(self) -> float:
        return float(self.data_state.get("std", 0.25))

    def model_info(self) -> dict[str, Any]:
        return {"in_channels": self.channels}

    def display_normalization(self) -> tuple[Any, Any]:
        return [self.mean] * self.channels, [self.std] * self.channels

    def fit_state(self, train: Tensor) -> dict[str, Any]:
        """Mean / std of the training images (all channels together), in [0, 1]."""
        x = train.float() / 255
        return {"mean": float(x.mean()), "std": float(x.std().clamp_min(1e-3))}

    def setup(self, stage: str | None = None) -> None:
        if all(s in self.datasets for s in ("train", "val", "test")) or (
            stage in ("test", "predict") and "test" in self.datasets
        ):
            return
        source, location = self.resolve()
        root = EMBEDDED_DIR / "isbi2012_membrane" if source == "embedded" else location
        hp = self.hparams
        images, masks = read_pairs(find_pairs(root), self.image_size, self.channels, hp.mask_threshold)
        if hp.invert_masks:
            masks = 1 - masks
        if self.crop_size and min(images.shape[-2:]) < self.crop_size:
            raise DataSourceError(
                f"segmentation: crop_size {self.crop_size} exceeds the images {tuple(images.shape[-2:])}; "
                "pass a smaller --data.init_args.crop_size"
            )
        idx = split_indices(
            len(images), {"test": hp.test_fraction, "val": hp.val_fraction}, self.split, self.split_seed
        )
        if len(idx["train"]) == 0 or len(idx["val"]) == 0:
            raise DataSourceError(
                f"segmentation: {len(images)} pairs are too few for the val/test fractions; add data or lower them"
            )
        self.indices = idx
        self.fitted_state(images[idx["train"]])
        mean, std = self.mean, self.std
        self.datasets = {
            "train": SegmentationDataset(
                images[idx["train"]], masks[idx["train"]], mean, std, self.transform, hp.repeats
            ),
            "val": SegmentationDataset(images[idx["val"]], masks[idx["val"]], mean, std),
            "test": SegmentationDataset(images[idx["test"]], masks[idx["test"]], mean, std),
        }
        log.info(
            f"segmentation: train {len(idx['train'])} (x{hp.repeats}), val {len(idx['val'])}, "
            f"test {len(idx['test'])} images of {tuple(images.shape[1:])} ({source}, {self.split} split)"
        )
