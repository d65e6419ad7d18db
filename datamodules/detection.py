"""Object detection data: generated digit canvases (embedded), Pascal VOC or COCO folders, VOC download.

Batches are dicts of tensors: ``image`` (N x 3 x S x S floats in [0, 1]; the detectors normalise
themselves), ``boxes`` (N x M x 4, pixel-edge ``x1, y1, x2, y2`` in the S x S image), ``labels``
(N x M class ids, ``-1`` pads images with fewer than M boxes), ``orig_size`` (N x 2: the height and width
of the file, so predictions can be mapped back) and ``index`` (N, the item's position in its split).
"""

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

from datamodules.base import EMBEDDED_DIR, LabDataModule, Source, split_indices
from datamodules.detection_readers import DetectionRecords, find_voc_root, read_coco, read_voc
from datamodules.digit_canvases import POOLS, SPLIT_SEED_OFFSET, make_canvases
from datamodules.readers import IMAGE_SUFFIXES, find_file, read_idx
from labcore import log
from labcore.errors import DataSourceError, LabError

DIGIT_NAMES = [str(d) for d in range(10)]
Item = tuple[Tensor, Tensor, Tensor]  # uint8 C x H x W image, K x 4 boxes, K labels


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
    """``load(i) -> (uint8 image, boxes, labels)`` for ``n`` items -> transformed, padded batches.

    ``transform``: :class:`BoxTransform` (resizes, and augments for training) and optionally an
    ``augment`` (albumentations, ``.boxes(image, boxes, labels)``) after it. Boxes thinner than
    ``min_box_size`` after the transforms are dropped and counted (``dropped``), with a warning at
    1, 10, 100, ... dropped boxes.
    """

    def __init__(
        self,
        load: Callable[[int], Item],
        n: int,
        transform: BoxTransform,
        augment: Any = None,
        min_box_size: float = 2.0,
    ) -> None:
        self.load, self.n, self.transform, self.augment = load, n, transform, augment
        self.min_box_size = min_box_size
        self.dropped, self._warn_at = 0, 1

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        image, boxes, labels = self.load(i)
        orig = torch.tensor(image.shape[-2:])
        image, boxes, labels = self.transform(image, boxes, labels)
        dropped = 0
        if self.augment is not None:
            image, boxes, labels, dropped = self.augment.boxes(image, boxes, labels)
        boxes, labels, n_bad = drop_degenerate(boxes, labels, self.transform.size, self.min_box_size)
        self._count(dropped + n_bad)
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        return {
            "image": image.float() / 255,
            "boxes": boxes,
            "labels": labels,
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
    """Stack items; ``boxes`` / ``labels`` padded to the batch's largest box count (labels -1, boxes 0)."""
    m = max((len(it["labels"]) for it in items), default=0)
    boxes = torch.zeros(len(items), m, 4)
    labels = torch.full((len(items), m), -1, dtype=torch.long)
    for j, it in enumerate(items):
        k = len(it["labels"])
        boxes[j, :k], labels[j, :k] = it["boxes"], it["labels"]
    out = {"image": torch.stack([it["image"] for it in items]), "boxes": boxes, "labels": labels}
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
        return self.c.images[i], self.c.boxes[i], self.c.labels[i]


class RecordItems:
    """``(image, boxes, labels)`` of VOC / COCO records by index; boxes of classes not in ``index`` are left out."""

    def __init__(self, records: DetectionRecords, index: dict[str, int]) -> None:
        self.records, self.index = records, index

    def __call__(self, i: int) -> Item:
        rec, index = self.records, self.index
        keep = [j for j, n in enumerate(rec.names[i]) if n in index]
        boxes = torch.tensor([rec.boxes[i][j] for j in keep], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([index[rec.names[i][j]] for j in keep], dtype=torch.long)
        return load_image(rec.files[i]), boxes, labels


def load_image(path: Path) -> Tensor:
    if not path.exists():
        raise DataSourceError(f"detection: image {path} is missing")
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).contiguous()


class DetectionDataModule(LabDataModule):
    """Boxes and class labels. Sources:

    - ``embedded`` (what ``auto`` uses without ``path``): canvases with 1-5 real MNIST digits each,
      generated deterministically (``datamodules.digit_canvases``) from disjoint digit pools per split;
      ``canvas_seed`` and ``n_train`` / ``n_val`` / ``n_test`` / ``image_size`` choose them.
    - ``path``: a Pascal VOC folder (``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/{train,val,test}.txt``;
      also a ``VOCdevkit`` above it) or a COCO folder (``images/`` + ``annotations/instances_<split>.json``).
      Splits without a list / file are carved from training (``val_fraction`` / ``test_fraction``,
      ``split_seed``).
    - ``download``: Pascal VOC 2012 through torchvision into ``data_dir`` (one-line error offline).

    Images are resized to ``image_size`` squared with their boxes; training adds ``flip_p`` /
    ``crop_p`` (torchvision v2) or an albumentations pipeline ``augment`` (names or a YAML/JSON file).
    Class names come from the training split (the data state, kept in the checkpoint).
    """

    name = "detection"
    host = "host.robots.ox.ac.uk"
    how_to_get = "pass --data.init_args.path DIR with a Pascal VOC or COCO layout (or source embedded)"
    optional_model_info = frozenset({"class_names", "image_size"})

    def __init__(
        self,
        source: Source = "auto",
        path: str | None = None,
        data_dir: str | None = None,
        image_size: int = 128,
        n_train: int = 2000,
        n_val: int = 200,
        n_test: int = 200,
        canvas_seed: int = 0,
        max_digits: int = 5,
        min_scale: int = 20,
        max_scale: int = 44,
        flip_p: float = 0.0,
        crop_p: float = 0.0,
        crop_scale: float = 0.5,
        augment: str | None = None,
        min_box_size: float = 2.0,
        keep_difficult: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        from_checkpoint: str | None = None,
    ) -> None:
        super().__init__(
            source=source,
            path=path,
            data_dir=data_dir,
            split_seed=split_seed,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            from_checkpoint=from_checkpoint,
        )
        self.save_hyperparameters()
        if image_size < 32:
            raise LabError(
                f"detection: image_size {image_size} is too small; pass --data.init_args.image_size 64 or more"
            )
        self.image_size = image_size

    # --- source ------------------------------------------------------------------------------
    def resolve(self) -> tuple[str, Path | None]:
        # auto without a path and without a VOC copy under data_dir: the canvases, no 2 GB download
        if self.resolved_source is None and self.source == "auto" and not self.path and self._full_copy() is None:
            self.resolved_source, self._location = "embedded", None
            log.info(
                "detection: source resolved to embedded (generated digit canvases; VOC/COCO: --data.init_args.path)"
            )
        return super().resolve()

    def _full_copy(self) -> Path | None:
        root = self.data_dir / "VOCdevkit"
        return find_voc_root(root) if root.is_dir() else None

    def _download(self) -> Path:
        from torchvision.datasets import VOCDetection

        VOCDetection(str(self.data_dir), year="2012", image_set="trainval", download=True)
        return self.data_dir / "VOCdevkit" / "VOC2012"

    # --- what the model reads -------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        return list(self.data_state.get("class_names", DIGIT_NAMES))

    def model_info(self) -> dict[str, Any]:
        if not self.has_state:
            self.setup("fit")
        return {"num_classes": len(self.class_names), "class_names": self.class_names, "image_size": self.image_size}

    def fit_state(self, train: Any) -> dict[str, Any]:
        """The class list: the digits, or the sorted names in the training annotations."""
        return {"class_names": train}

    # --- datasets --------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if all(s in self.datasets for s in ("train", "val", "test")):
            return
        source, location = self.resolve()
        splits = self._embedded() if source == "embedded" else self._records(location)
        hp = self.hparams
        train_tf = BoxTransform(self.image_size, hp.flip_p, hp.crop_p, hp.crop_scale)
        eval_tf = BoxTransform(self.image_size)
        augment = None
        if hp.augment:
            from datamodules.albumentations_pipeline import AlbumentationsJoint

            augment = AlbumentationsJoint(hp.augment, with_boxes=True, min_box_size=hp.min_box_size)
        self.datasets = {
            split: DetectionDataset(
                load,
                n,
                train_tf if split == "train" else eval_tf,
                augment if split == "train" else None,
                hp.min_box_size,
            )
            for split, (load, n) in splits.items()
        }
        log.info(
            f"detection: train {len(self.datasets['train'])}, val {len(self.datasets['val'])}, "
            f"test {len(self.datasets['test'])} images at {self.image_size} px, "
            f"{len(self.class_names)} classes ({source})"
        )

    def _embedded(self) -> dict[str, tuple[Callable[[int], Item], int]]:
        self.fitted_state(DIGIT_NAMES)
        hp = self.hparams
        mnist = EMBEDDED_DIR / "mnist"
        files = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
        pools = {
            k: (read_idx(find_file(mnist, v)), read_idx(find_file(mnist, v.replace("images-idx3", "labels-idx1"))))
            for k, v in files.items()
        }
        out = {}
        for split, n in (("train", hp.n_train), ("val", hp.n_val), ("test", hp.n_test)):
            pool, lo, hi = POOLS[split]
            digits, labels = pools[pool][0][lo:hi], pools[pool][1][lo:hi].long()
            c = make_canvases(
                digits,
                labels,
                n,
                self.image_size,
                max_digits=hp.max_digits,
                min_scale=hp.min_scale,
                max_scale=hp.max_scale,
                seed=hp.canvas_seed * 10 + SPLIT_SEED_OFFSET[split],
            )
            out[split] = (CanvasItems(c), n)
        return out

    def _records(self, root: Path) -> dict[str, tuple[Callable[[int], Item], int]]:
        voc = find_voc_root(root)
        if voc is not None:
            splits = read_voc(voc, self.hparams.keep_difficult)
            names = sorted({n for names in splits["train"].names for n in names})
        elif any(root.glob("*.json")) or any(root.glob("annotations/*.json")):
            splits, names = read_coco(root)
        else:
            raise DataSourceError(f"detection: {root} is neither a Pascal VOC nor a COCO folder; {self.how_to_get}")
        splits = self._carve(splits)
        class_names = self.fitted_state(names)["class_names"]
        index = {n: i for i, n in enumerate(class_names)}
        unknown = sum(n not in index for rec in splits.values() for names_ in rec.names for n in names_)
        if unknown:
            log.warn(f"detection: {unknown} boxes of classes unseen in training dropped")
        return {split: (RecordItems(rec, index), len(rec)) for split, rec in splits.items()}

    def _carve(self, splits: dict[str, DetectionRecords]) -> dict[str, DetectionRecords]:
        """Validation / test parts missing from the files are carved from training (``split_seed``)."""
        missing = {
            k: f
            for k, f in (("val", self.hparams.val_fraction), ("test", self.hparams.test_fraction))
            if k not in splits
        }
        if missing:
            train = splits["train"]
            idx = split_indices(len(train), missing, "random", self.split_seed)
            splits = {**splits, **{k: train.subset(v.tolist()) for k, v in idx.items()}}
            log.info(f"detection: {', '.join(missing)} carved from training ({len(idx['train'])} training images left)")
        for k in ("train", "val", "test"):
            if len(splits[k]) == 0:
                raise DataSourceError(f"detection: the {k} split is empty; add images or change the fractions")
        return splits


__all__ = ["BoxTransform", "DetectionDataModule", "DetectionDataset", "IMAGE_SUFFIXES", "pad_batch"]
