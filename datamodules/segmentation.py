"""Images and binary masks from a folder pair (ISBI 2012 membrane layout), with joint transforms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from labcore.errors import DataSourceError
from datamodules.image_classification import seeded_split
from datamodules.readers import IMAGE_SUFFIXES
from datamodules.sources import EMBEDDED_DIR, Source, resolve_source
from datamodules.split_loaders import SplitLoaders
from datamodules.tensor_dataset import dict_collate

FOLDER_PAIRS = [("image", "label"), ("images", "masks"), ("images", "labels"), ("image", "mask")]


def find_pairs(root: Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` files matched by stem from the first folder pair found under ``root``."""
    for img_dir, mask_dir in FOLDER_PAIRS:
        if (root / img_dir).is_dir() and (root / mask_dir).is_dir():
            masks = {f.stem: f for f in (root / mask_dir).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES}
            images = sorted(f for f in (root / img_dir).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            pairs = [(f, masks[f.stem]) for f in images if f.stem in masks]
            if not pairs:
                raise DataSourceError(f"segmentation: no image in {root / img_dir} has a mask of the same name in {root / mask_dir}")
            return sorted(pairs, key=lambda p: (len(p[0].stem), p[0].stem))
    raise DataSourceError(f"segmentation: no image/ and label/ (or images/ and masks/) folders under {root}; "
                          "pass --data.init_args.path DIR holding them")


def read_pairs(pairs: list[tuple[Path, Path]], size: int | None, channels: int, threshold: int) -> tuple[Tensor, Tensor]:
    mode = "L" if channels == 1 else "RGB"
    images, masks = [], []
    for img_path, mask_path in pairs:
        with Image.open(img_path) as im, Image.open(mask_path) as mk:
            im, mk = im.convert(mode), mk.convert("L")
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

    def __init__(self, crop_size: int | None, flips: bool, rot90: bool, elastic_p: float,
                 elastic_alpha: float = 34.0, elastic_sigma: float = 4.0) -> None:
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

    def __init__(self, images: Tensor, masks: Tensor, mean: float, std: float,
                 transform: JointTransform | None = None, repeats: int = 1) -> None:
        self.images, self.masks, self.mean, self.std = images, masks, mean, std
        self.transform, self.repeats = transform, repeats

    def __len__(self) -> int:
        return len(self.images) * self.repeats

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        image, mask = self.images[i % len(self.images)], self.masks[i % len(self.images)]
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return {"image": (image.float() / 255 - self.mean) / self.std, "mask": mask.float()}


class SegmentationFolderDataModule(SplitLoaders, L.LightningDataModule):
    """Binary segmentation from an images folder and a masks folder with matching file names
    (``image/`` + ``label/``, or ``images/`` + ``masks/``). ``embedded``: the 30 ISBI 2012 EM slices
    downscaled to 192 x 192 (white = cell interior = 1, black = membrane = 0);
    ``path``: e.g. ``../shared/data/isbi2012_membrane/train`` (512 x 512).

    The pairs are split train/val/test with ``split_seed``; training uses joint random crops,
    flips, 90-degree rotations and (with probability ``elastic_p``) elastic deformation;
    validation and test see whole images, unaugmented. Images are standardised with the mean/std
    of the training images (kept in the checkpoint).

    Args:
        image_size: resize on load (None: keep the files' size).
        crop_size: side of the random training crops (None: whole images).
        mask_threshold: mask pixels above it are foreground; ``invert_masks`` swaps the classes.
        repeats: passes over the training images per epoch.
    """

    name = "segmentation"
    how_to_get = "pass --data.init_args.path DIR with image/ and label/ (or images/ and masks/) folders"

    def __init__(self, source: Source = "auto", path: str | None = None, image_size: int | None = None,
                 channels: int = 1, crop_size: int | None = None, flips: bool = True, rot90: bool = True,
                 elastic_p: float = 0.0, mask_threshold: int = 127, invert_masks: bool = False,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, split_seed: int = 0,
                 batch_size: int = 4, eval_batch_size: int = 1, repeats: int = 1, num_workers: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        if source == "download":
            raise DataSourceError(f"segmentation: no download available; {self.how_to_get}")
        self.source, self.path, self.image_size, self.channels = source, path, image_size, channels
        self.crop_size, self.batch_size, self.eval_batch_size = crop_size, batch_size, eval_batch_size
        self.transform = JointTransform(crop_size, flips, rot90, elastic_p)
        self.resolved_source: str | None = None
        self.datasets: dict[str, SegmentationDataset] = {}
        self.mean, self.std = 0.5, 0.25

    def model_info(self) -> dict[str, Any]:
        return {"in_channels": self.channels}

    def resolve(self) -> tuple[str, Path | None]:
        if self.resolved_source is None:
            self.resolved_source, self._location = resolve_source(
                self.name, self.source, self.path, lambda: None, self._no_download, self.how_to_get, "")
            rank_zero_info(f"[dl-labs] segmentation: source resolved to {self.resolved_source}")
        return self.resolved_source, self._location

    def _no_download(self) -> Path:
        raise DataSourceError(f"segmentation: no download available; {self.how_to_get}")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        source, location = self.resolve()
        root = EMBEDDED_DIR / "isbi2012_membrane" if source == "embedded" else location
        hp = self.hparams
        images, masks = read_pairs(find_pairs(root), self.image_size, self.channels, hp.mask_threshold)
        if hp.invert_masks:
            masks = 1 - masks
        if self.crop_size and min(images.shape[-2:]) < self.crop_size:
            raise DataSourceError(f"segmentation: crop_size {self.crop_size} exceeds the images {tuple(images.shape[-2:])}; "
                                  "pass a smaller --data.init_args.crop_size")
        test_idx, val_idx, train_idx = seeded_split(len(images), [hp.test_fraction, hp.val_fraction], hp.split_seed)
        if len(train_idx) == 0 or len(val_idx) == 0:
            raise DataSourceError(f"segmentation: {len(images)} pairs are too few for the val/test fractions; add data or lower them")
        train = images[train_idx].float() / 255
        self.mean, self.std = float(train.mean()), float(train.std().clamp_min(1e-3))
        self.datasets = {
            "train": SegmentationDataset(images[train_idx], masks[train_idx], self.mean, self.std, self.transform, hp.repeats),
            "val": SegmentationDataset(images[val_idx], masks[val_idx], self.mean, self.std),
            "test": SegmentationDataset(images[test_idx], masks[test_idx], self.mean, self.std),
        }
        rank_zero_info(f"[dl-labs] segmentation: train {len(train_idx)} (x{hp.repeats}), val {len(val_idx)}, "
                       f"test {len(test_idx)} images of {tuple(images.shape[1:])} ({source})")

    def _loader(self, split: str) -> DataLoader:
        self.setup()
        return DataLoader(self.datasets[split], batch_size=self.batch_size if split == "train" else self.eval_batch_size,
                          shuffle=split == "train", num_workers=self.hparams.num_workers, collate_fn=dict_collate,
                          persistent_workers=self.hparams.num_workers > 0)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "resolved_source": self.resolved_source}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The training images' mean/std from the checkpoint (Lightning restores it after setup)."""
        self.mean, self.std = state.get("mean", self.mean), state.get("std", self.std)
        for ds in self.datasets.values():
            ds.mean, ds.std = self.mean, self.std
