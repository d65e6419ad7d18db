"""Unpaired image domains A and B for image-to-image translation (CycleGAN).

``path``: the horse2zebra layout, ``DIR/trainA``, ``trainB``, ``testA``, ``testB`` (image files;
validation is carved from the training images with ``split_seed``). ``embedded``: MNIST digits
(A) against colour-inverted MNIST digits (B), A and B drawn from DISJOINT images, so the model
never sees a pair; the true mapping (inversion) is known, and batches carry ``target_ab`` /
``target_ba`` so that translations can be scored.
"""

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

from labcore.errors import DataSourceError
from datamodules.image_classification import seeded_split
from datamodules.readers import IMAGE_SUFFIXES, find_file, read_idx
from datamodules.sources import EMBEDDED_DIR, Source, default_data_dir, resolve_source
from datamodules.split_loaders import SplitLoaders
from datamodules.tensor_dataset import dict_collate

def invert(x: Tensor) -> Tensor:
    """Colour inversion of an image in [-1, 1]."""
    return -x


MAPPINGS = {"invert": invert}


def read_folder(folder: Path, size: int, mode: str) -> Tensor:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise DataSourceError(f"unpaired: no images in {folder}; pass --data.init_args.path DIR with trainA/ trainB/ testA/ testB/")
    arrays = []
    for f in files:
        with Image.open(f) as im:
            arrays.append(np.asarray(im.convert(mode).resize((size, size), Image.BICUBIC)))
    arr = np.stack(arrays)
    arr = arr[..., None] if arr.ndim == 3 else arr
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


class UnpairedDataset(Dataset):
    """uint8 domains ``a`` and ``b`` -> ``{"image_a", "image_b"}`` in [-1, 1] (+ targets when the
    mapping is known). Length ``max(len a, len b)``; training pairs ``a[i]`` with a random ``b``
    (fresh each access), evaluation with ``b[i % len b]``. ``flip``: random horizontal flips,
    applied to an image before its target is computed, so targets stay exact."""

    def __init__(self, a: Tensor, b: Tensor, train: bool, flip: bool, mapping: str | None) -> None:
        self.a, self.b, self.train, self.flip = a, b, train, flip
        self.mapping = MAPPINGS[mapping] if mapping else None

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def _load(self, x: Tensor) -> Tensor:
        x = x.float().div(127.5).sub(1.0)
        if self.train and self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        j = int(torch.randint(len(self.b), ())) if self.train else i % len(self.b)
        a, b = self._load(self.a[i % len(self.a)]), self._load(self.b[j])
        item = {"image_a": a, "image_b": b}
        if self.mapping is not None:
            item["target_ab"], item["target_ba"] = self.mapping(a), self.mapping(b)
        return item


class UnpairedImageDataModule(SplitLoaders, L.LightningDataModule):
    """Two unpaired image domains. Batches ``{"image_a", "image_b"[, "target_ab", "target_ba"]}``,
    images in [-1, 1].

    Args:
        source: ``auto`` (path if given, else embedded with a notice), ``embedded`` or ``path``.
        path: a folder with ``trainA/ trainB/ testA/ testB/`` (horse2zebra layout).
        image_size: side after resizing (default: 28 embedded, 256 path).
        grayscale: read images as 1 channel (default: True embedded, False path).
        known_mapping: the true A -> B mapping, if any (``invert``); default: ``invert`` for the
            embedded data, none for ``path`` data.
        val_fraction / split_seed: validation share carved from each training domain.
        max_train_samples: keep at most this many training images per domain.
        flip: random horizontal flips in training.
    """

    name = "unpaired"
    how_to_get = "pass --data.init_args.path DIR with trainA/ trainB/ testA/ testB/ (horse2zebra layout)"

    def __init__(self, source: Source = "auto", path: str | None = None, image_size: int | None = None,
                 grayscale: bool | None = None, known_mapping: str | None = None, batch_size: int = 1,
                 eval_batch_size: int | None = None, val_fraction: float = 0.1, split_seed: int = 0,
                 max_train_samples: int | None = None, flip: bool = True, num_workers: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        if source == "download":
            raise DataSourceError(f"unpaired: no download available; {self.how_to_get}")
        if known_mapping is not None and known_mapping not in MAPPINGS:
            raise DataSourceError(f"unpaired: unknown known_mapping {known_mapping!r}; use one of {sorted(MAPPINGS)} or null")
        self.source, self.path = source, path
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.val_fraction, self.split_seed, self.max_train_samples = val_fraction, split_seed, max_train_samples
        self.flip, self.num_workers = flip, num_workers
        self.resolved_source: str | None = None
        self._location: Path | None = None
        self.datasets: dict[str, UnpairedDataset] = {}
        embedded = source == "embedded" or (source == "auto" and not path)
        self.image_size = image_size or (28 if embedded else 256)
        self.grayscale = grayscale if grayscale is not None else embedded
        self.mapping = known_mapping if known_mapping is not None else ("invert" if embedded else None)

    def model_info(self) -> dict[str, Any]:
        c = 1 if self.grayscale else 3
        return {"in_channels": c, "input_shape": [c, self.image_size, self.image_size]}

    def resolve(self) -> tuple[str, Path | None]:
        if self.resolved_source is None:
            self.resolved_source, self._location = resolve_source(
                self.name, self.source, self.path, lambda: None, self._no_download, self.how_to_get, "")
            rank_zero_info(f"[dl-labs] unpaired: source resolved to {self.resolved_source}")
        return self.resolved_source, self._location

    def _no_download(self) -> Path:
        raise DataSourceError(f"unpaired: no download available; {self.how_to_get}")

    def _embedded(self) -> dict[str, tuple[Tensor, Tensor]]:
        folder = EMBEDDED_DIR / "mnist"
        train = read_idx(find_file(folder, "train-images-idx3-ubyte")).unsqueeze(1)
        test = read_idx(find_file(folder, "t10k-images-idx3-ubyte")).unsqueeze(1)
        if self.image_size != 28:
            train, test = (torch.nn.functional.interpolate(x.float(), size=self.image_size, mode="bilinear")
                           .round().clamp(0, 255).to(torch.uint8) for x in (train, test))
        half, rest = seeded_split(len(train), [0.5], self.split_seed)
        t_half = len(test) // 2
        return {"train": (train[half], 255 - train[rest]), "test": (test[:t_half], 255 - test[t_half:])}

    def _folders(self, root: Path) -> dict[str, tuple[Tensor, Tensor]]:
        mode = "L" if self.grayscale else "RGB"
        return {split: tuple(read_folder(root / f"{split}{d}", self.image_size, mode) for d in "AB")
                for split in ("train", "test")}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        source, location = self.resolve()
        data = self._embedded() if source == "embedded" else self._folders(location)
        (train_a, train_b), (test_a, test_b) = data["train"], data["test"]
        va, ta = seeded_split(len(train_a), [self.val_fraction], self.split_seed)
        vb, tb = seeded_split(len(train_b), [self.val_fraction], self.split_seed + 1)
        k = self.max_train_samples
        ta, tb = (ta[:k], tb[:k]) if k else (ta, tb)
        self.datasets = {
            "train": UnpairedDataset(train_a[ta], train_b[tb], True, self.flip, self.mapping),
            "val": UnpairedDataset(train_a[va], train_b[vb], False, False, self.mapping),
            "test": UnpairedDataset(test_a, test_b, False, False, self.mapping),
        }
        rank_zero_info(f"[dl-labs] unpaired: train A {len(ta)} / B {len(tb)}, val {len(va)} / {len(vb)}, "
                       f"test {len(test_a)} / {len(test_b)} ({source}, mapping {self.mapping or 'unknown'})")

    def _loader(self, split: str) -> DataLoader:
        self.setup()
        return DataLoader(self.datasets[split], batch_size=self.batch_size if split == "train" else self.eval_batch_size,
                          shuffle=split == "train", num_workers=self.num_workers, collate_fn=dict_collate,
                          persistent_workers=self.num_workers > 0)

