"""Object detection data: generated digit canvases (embedded), Pascal VOC or COCO folders, VOC download.

Batches are dicts of tensors: ``image`` (N x 3 x S x S floats in [0, 1]; the detectors normalise
themselves), ``boxes`` (N x M x 4, pixel-edge ``x1, y1, x2, y2`` in the S x S image), ``labels``
(N x M class ids, ``-1`` pads images with fewer than M boxes), ``iscrowd`` (N x M, 1 = an ignore
region in val / test: a VOC difficult object, a COCO crowd, a box under ``min_box_size``), ``orig_size``
(N x 2: the height and width of the file, so predictions can be mapped back) and ``index`` (N, the
item's position in its split).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from datamodules.base import EMBEDDED_DIR, LabDataModule, split_indices
from datamodules.detection_dataset import BoxTransform, CanvasItems, DetectionDataset, Item, RecordItems, pad_batch
from datamodules.detection_readers import DetectionRecords, find_voc_root, read_coco, read_voc
from datamodules.digit_canvases import POOLS, SPLIT_SEED_OFFSET, make_canvases
from datamodules.readers import find_file, read_idx
from labcore import log
from labcore.errors import DataSourceError, LabError

DIGIT_NAMES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class CanvasOptions:
    """The generated digit canvases of the embedded source: ``--data.init_args.canvases.<field>``, in YAML
    ``canvases: {n_train: 2000}``.

    Args:
        n_train / n_val / n_test: canvases per split (disjoint digit pools).
        seed: which canvases (each split draws from its own seed derived from it).
        max_digits: digits per canvas (1 to ``max_digits``).
        min_scale / max_scale: the digits' side in pixels.
    """

    n_train: int = 2000
    n_val: int = 200
    n_test: int = 200
    seed: int = 0
    max_digits: int = 5
    min_scale: int = 20
    max_scale: int = 44


DEFAULT_CANVASES = CanvasOptions()


class DetectionDataModule(LabDataModule):
    """Boxes and class labels. Sources:

    - ``embedded`` (what ``auto`` uses without ``path``): canvases with 1-5 real MNIST digits each,
      generated deterministically (``datamodules.digit_canvases``) from disjoint digit pools per split;
      ``canvases`` (``CanvasOptions``: ``seed``, ``n_train`` / ``n_val`` / ``n_test``, digit counts and
      sizes) and ``image_size`` choose them.
    - ``path``: a Pascal VOC folder (``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/{train,val,test}.txt``;
      also a ``VOCdevkit`` above it) or a COCO folder (``images/`` + ``annotations/instances_<split>.json``).
      Splits without a list / file are carved from training (``val_fraction`` / ``test_fraction``,
      ``split``, ``split_seed``).
    - ``download``: Pascal VOC 2012 through torchvision into ``data_dir`` (one-line error offline).

    Images are resized to ``image_size`` squared with their boxes; training adds ``flip_p`` /
    ``crop_p`` (torchvision v2) or an albumentations pipeline ``augment`` (names or a YAML/JSON file).
    Class names come from the training split (the data state, kept in the checkpoint).
    The ``LabDataModule`` arguments (``source``, ``path``, ``data_dir``, ``split``, ``split_seed``,
    ``eval_batch_size``, ``num_workers``, ``from_checkpoint``) pass through ``kwargs``.
    """

    name = "detection"
    moved_options: ClassVar[dict[str, str]] = {
        "canvas_seed": "canvases.seed",
        **{k: f"canvases.{k}" for k in ("n_train", "n_val", "n_test", "max_digits", "min_scale", "max_scale")},
    }
    host = "host.robots.ox.ac.uk"
    how_to_get = "pass --data.init_args.path DIR with a Pascal VOC or COCO layout (or source embedded)"
    optional_model_info = frozenset({"class_names", "image_size"})

    def __init__(
        self,
        image_size: int = 128,
        canvases: CanvasOptions = DEFAULT_CANVASES,
        flip_p: float = 0.0,
        crop_p: float = 0.0,
        crop_scale: float = 0.5,
        augment: str | None = None,
        min_box_size: float = 2.0,
        keep_difficult: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int = 8,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the ``LabDataModule`` arguments (``source``, ``path``, ``batch_size``, ...)."""
        super().__init__(batch_size=batch_size, **kwargs)
        canvases = asdict(CanvasOptions(**canvases) if isinstance(canvases, Mapping) else canvases)
        self.save_hyperparameters()  # the canvas options as a plain dict: loggers and weights_only loads take it
        self.canvases = CanvasOptions(**canvases)
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

    def download(self) -> Path:
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
                ignore_regions=split != "train",
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
        hp = self.canvases
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
                seed=hp.seed * 10 + SPLIT_SEED_OFFSET[split],
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
            idx = split_indices(len(train), missing, self.split, self.split_seed)
            splits = {**splits, **{k: train.subset(v.tolist()) for k, v in idx.items()}}
            log.info(f"detection: {', '.join(missing)} carved from training ({len(idx['train'])} training images left)")
        for k in ("train", "val", "test"):
            if len(splits[k]) == 0:
                raise DataSourceError(f"detection: the {k} split is empty; add images or change the fractions")
        return splits


__all__ = ["BoxTransform", "DetectionDataModule", "DetectionDataset", "pad_batch"]
