"""Unpaired image domains A and B for image-to-image translation (CycleGAN).

``path``: the horse2zebra layout, ``DIR/trainA``, ``trainB``, ``testA``, ``testB`` (image files;
validation is ``valA`` / ``valB`` (or ``devA``, ``validationA``, ...) where present, else carved from
the training images with ``split`` / ``split_seed``). ``embedded``: MNIST digits
(A) against colour-inverted MNIST digits (B), A and B drawn from DISJOINT images, so the model
never sees a pair; the true mapping (inversion) is known, and batches carry ``target_ab`` /
``target_ba`` so that translations can be scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from datamodules.base import (
    EMBEDDED_DIR,
    LabDataModule,
    Source,
    SplitKind,
    canonical_split,
    seeded_split,
    split_indices,
)
from datamodules.checks import at_least, fractions
from datamodules.readers import IMAGE_SUFFIXES, find_file, open_image, read_idx
from labcore import log
from labcore.errors import DataSourceError


def invert(x: Tensor) -> Tensor:
    """Colour inversion of an image in [-1, 1]."""
    return -x


MAPPINGS = {"invert": invert}


def read_folder(folder: Path, size: int, mode: str) -> Tensor:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise DataSourceError(
            f"unpaired: no images in {folder}; pass --data.init_args.path DIR with trainA/ trainB/ testA/ testB/"
        )
    arrays = []
    for f in files:
        arrays.append(np.asarray(open_image(f, mode, f).resize((size, size), Image.BICUBIC)))
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

    @property
    def random_reads(self) -> bool:
        """Training draws its pairing and flips as items are read (``datamodules.resumable.SeededFetch``)."""
        return bool(self.train)

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


class UnpairedImageDataModule(LabDataModule):
    """Two unpaired image domains. Batches ``{"image_a", "image_b"[, "target_ab", "target_ba"]}``,
    images in [-1, 1]. Nothing is fitted on the data, so ``test`` reads only ``testA/ testB/``.

    Args:
        source: ``auto`` (path if given, else embedded with a notice), ``embedded`` or ``path``.
        path: a folder with ``trainA/ trainB/ testA/ testB/`` (horse2zebra layout; ``valA/ valB/`` optional).
        image_size: side after resizing (default: 28 embedded, 256 path).
        grayscale: read images as 1 channel (default: True embedded, False path).
        known_mapping: the true A -> B mapping, if any (``invert``); default: ``invert`` for the
            embedded data, none for ``path`` data.
        val_fraction / split / split_seed: validation share carved from each training domain
            where there are no val folders (``random`` by default).
        max_train_samples: keep at most this many training images per domain.
        flip: random horizontal flips in training.
        from_checkpoint: take the data state (input shape) from this checkpoint (cli.py fills it from ``--ckpt_path``).
    """

    name = "unpaired"
    how_to_get = "pass --data.init_args.path DIR with trainA/ trainB/ testA/ testB/ (horse2zebra layout)"
    optional_model_info = frozenset({"input_shape", "in_channels"})

    def __init__(
        self,
        source: Source = "auto",
        path: str | None = None,
        image_size: int | None = None,
        grayscale: bool | None = None,
        known_mapping: str | None = None,
        batch_size: int = 1,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        split: SplitKind | None = None,
        split_seed: int = 0,
        max_train_samples: int | None = None,
        flip: bool = True,
        num_workers: int = 0,
        from_checkpoint: str | None = None,
    ) -> None:
        if source == "download":
            raise DataSourceError(f"unpaired: no download available; {self.how_to_get}")
        if known_mapping is not None and known_mapping not in MAPPINGS:
            raise DataSourceError(
                f"unpaired: unknown known_mapping {known_mapping!r}; use one of {sorted(MAPPINGS)} or null"
            )
        at_least(self.name, 1, image_size=image_size, max_train_samples=max_train_samples)
        fractions(self.name, val_fraction=val_fraction)
        super().__init__(
            source=source,
            path=path,
            split=split,
            split_seed=split_seed,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            from_checkpoint=from_checkpoint,
        )
        self.save_hyperparameters()
        self.val_fraction, self.max_train_samples, self.flip = val_fraction, max_train_samples, flip
        embedded = source == "embedded" or (source == "auto" and not path)
        self.image_size = image_size or (28 if embedded else 256)
        self.grayscale = grayscale if grayscale is not None else embedded
        self.mapping = known_mapping if known_mapping is not None else ("invert" if embedded else None)

    @property
    def input_shape(self) -> list[int]:
        c = 1 if self.grayscale else 3
        return list(self.data_state.get("input_shape") or [c, self.image_size, self.image_size])

    def model_info(self) -> dict[str, Any]:
        shape = self.input_shape
        return {"in_channels": shape[0], "input_shape": shape}

    def fit_state(self, train: Any) -> dict[str, Any]:
        return {"input_shape": self.input_shape}

    def _embedded(self) -> dict[str, tuple[Tensor, Tensor]]:
        folder = EMBEDDED_DIR / "mnist"
        train = read_idx(find_file(folder, "train-images-idx3-ubyte")).unsqueeze(1)
        test = read_idx(find_file(folder, "t10k-images-idx3-ubyte")).unsqueeze(1)
        if self.image_size != 28:
            train, test = (
                torch.nn.functional.interpolate(x.float(), size=self.image_size, mode="bilinear")
                .round()
                .clamp(0, 255)
                .to(torch.uint8)
                for x in (train, test)
            )
        half, rest = seeded_split(len(train), [0.5], self.split_seed)
        t_half = len(test) // 2
        return {"train": (train[half], 255 - train[rest]), "test": (test[:t_half], 255 - test[t_half:])}

    def _folders(self, root: Path, splits: tuple[str, ...]) -> dict[str, tuple[Tensor, Tensor]]:
        """``{split: (A, B)}`` from ``<name>A`` / ``<name>B`` folders, ``<name>`` any alias of the split."""
        mode = "L" if self.grayscale else "RGB"
        names: dict[str, str] = {}
        for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
            split = canonical_split(d.name[:-1]) if d.name[-1:] in "AB" else None
            if split is not None and (root / f"{d.name[:-1]}B").is_dir() and (root / f"{d.name[:-1]}A").is_dir():
                names.setdefault(split, d.name[:-1])
        out = {}
        for split in splits:
            if split == "val" and "val" not in names:
                continue
            prefix = names.get(split, split)
            out[split] = tuple(read_folder(root / f"{prefix}{d}", self.image_size, mode) for d in "AB")
        return out

    def setup(self, stage: str | None = None) -> None:
        stage = stage or "fit"
        evaluating = stage in ("test", "predict")
        if "test" in self.datasets and (evaluating or "train" in self.datasets):
            return
        source, location = self.resolve()
        self.fitted_state(None)
        if source == "embedded":
            data = self._embedded()
        else:
            data = self._folders(location, ("test",) if evaluating else ("train", "val", "test"))
        test_a, test_b = data["test"]
        self.datasets["test"] = UnpairedDataset(test_a, test_b, False, False, self.mapping)
        if evaluating:
            log.info(f"unpaired: test {len(test_a)} / {len(test_b)} ({source}, mapping {self.mapping or 'unknown'})")
            return
        train_a, train_b = data["train"]
        if "val" in data:
            val_a, val_b = data["val"]
            ta, tb = torch.arange(len(train_a)), torch.arange(len(train_b))
        else:
            ia = split_indices(len(train_a), {"val": self.val_fraction}, self.split, self.split_seed)
            ib = split_indices(len(train_b), {"val": self.val_fraction}, self.split, self.split_seed + 1)
            (ta, va), (tb, vb) = (ia["train"], ia["val"]), (ib["train"], ib["val"])
            val_a, val_b = train_a[va], train_b[vb]
        k = self.max_train_samples
        ta, tb = (ta[:k], tb[:k]) if k else (ta, tb)
        self.datasets["train"] = UnpairedDataset(train_a[ta], train_b[tb], True, self.flip, self.mapping)
        self.datasets["val"] = UnpairedDataset(val_a, val_b, False, False, self.mapping)
        log.info(
            f"unpaired: train A {len(ta)} / B {len(tb)}, val {len(val_a)} / {len(val_b)}, "
            f"test {len(test_a)} / {len(test_b)} ({source}, mapping {self.mapping or 'unknown'})"
        )
