"""Base LightningDataModule for image classification: images in memory, splits, statistics, predict inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from datamodules.base import LabDataModule, split_indices
from datamodules.checks import at_least, fractions
from datamodules.readers import read_image_files
from datamodules.samplers import EqualChunks
from datamodules.splits import seeded_split  # noqa: F401  (re-exported: older code imports it from here)
from datamodules.tensor_dataset import ImageTensorDataset
from labcore import log
from labcore.errors import DataSourceError, LabError


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 ``N x C x H x W`` images scaled to [0, 1] (chunked, float64)."""
    c = images.shape[1]
    total, sq, count = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64).div_(255.0).transpose(0, 1).reshape(c, -1)
        total += x.sum(1)
        sq += (x * x).sum(1)
        count += x.shape[1]
    mean = total / max(count, 1)
    std = (sq / max(count, 1) - mean * mean).clamp_min(1e-12).sqrt().clamp_min(1e-3)
    return mean.tolist(), std.tolist()


class ImageClassificationDataModule(LabDataModule):
    """Images in memory as uint8, split train/val/test with ``split`` / ``split_seed``.

    Subclasses say where the data comes from (``_read``, ``_full_copy``, ``_download``) and
    what it is (``default_class_names``, ``default_input_shape``, and ``published_mean`` /
    ``published_std``, the data set's published channel statistics; None: fitted on the training
    split). A batch is ``{"image": float N x C x H x W, "label": int64 N}``; predict batches from
    ``predict_path`` have no ``label``.

    The data state (saved in checkpoints) is ``class_names``, ``input_shape``, ``mean`` and
    ``std``; restored from ``from_checkpoint``, ``test`` needs only the test split and
    ``predict`` only ``predict_path``.

    Args:
        source: ``auto`` (full local copy, else download, else embedded with a notice),
            ``embedded``, ``download`` or ``path``.
        path: the user's copy (format per subclass); implies ``source=path`` under ``auto``.
        data_dir: download / full-copy directory (default ``$DL_LABS_DATA`` or ``~/.cache/dl-labs``).
        batch_size: training batch size; ``eval_batch_size`` for val/test (default: the same).
            ``full``: full-batch gradient descent, the training set as
            ``trainer.accumulate_grad_batches`` equal chunks (see ``samplers.EqualChunks``).
        val_fraction: share of the training pool held out for validation (where the data has no
            ``val`` / ``valid`` / ``validation`` / ``dev`` split).
        test_fraction: share held out for test where the source has no test split.
        split: ``random`` (default, seeded), ``stratified`` (class proportions kept in every part)
            or ``ordered`` (contiguous blocks in file order).
        split_seed: seed of the train/val/test split only.
        max_train_samples: keep only this many training examples (seeded), for quick runs.
        classes: keep only these classes (names), relabelled 0..k-1 in the given order; a name
            the data does not have is an error.
        augment: the standard random crop (padding 4) + horizontal flip.
        train_transform: any torchvision v2 transform on uint8 CHW tensors (applied after ``augment``).
        normalize: standardise with the channel mean/std of the data state.
        num_workers: DataLoader workers (in-memory data rarely needs any).
        from_checkpoint: take the data state from this checkpoint (cli.py fills it from ``--ckpt_path``).
        on_device: on a CUDA trainer, keep the images in device memory, cut batches and run ``augment``
            batched there (``datamodules.device_batches``; no ``train_transform``); a no-op on CPU.
        predict_path: an image file or a folder of images (searched recursively, sorted by path) that
            ``predict`` classifies, resized to the saved input shape and normalised with the saved
            statistics; the order is kept in ``predict_files``. Default: predict on the test split.
    """

    name = "images"
    published_mean: ClassVar[tuple[float, ...] | None] = None
    published_std: ClassVar[tuple[float, ...] | None] = None
    default_class_names: ClassVar[list[str]] = []
    optional_model_info = frozenset({"class_names", "input_shape", "in_channels", "image_size", "in_features"})

    def __init__(
        self,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        max_train_samples: int | None = None,
        classes: list[str] | None = None,
        augment: bool = False,
        train_transform: Callable | None = None,
        normalize: bool = True,
        predict_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the ``LabDataModule`` arguments (``source``, ``path``, ``batch_size``, ...)."""
        at_least(self.name, 1, max_train_samples=max_train_samples)
        fractions(self.name, val_fraction=val_fraction, test_fraction=test_fraction)
        super().__init__(**kwargs)  # plain **kwargs: the CLI reads the base's options through it
        if self.eval_batch_size == "full":  # full-batch training still evaluates in bounded batches
            self.eval_batch_size = 1000
        self.save_hyperparameters(ignore=["train_transform"])
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.max_train_samples = max_train_samples
        self.classes = list(classes) if classes else None
        self.augment = augment
        self.train_transform = train_transform
        self.normalize = normalize
        self.predict_path = predict_path
        self.predict_files: list[str] = []
        self.indices: dict[str, Tensor] = {}  # positions in the training pool of the carved parts

    # --- what subclasses provide -------------------------------------------------------------
    def _read(self, source: str, location: Path | None) -> dict[str, dict]:
        """``{split: {"images": uint8 NCHW, "labels": int tensor or list of names}}``, split in
        ``train | val | test | all`` (``all``: one pool to carve every split from)."""
        raise NotImplementedError

    def known_class_names(self) -> list[str]:
        """Every class the data has (``classes`` must be among them)."""
        return list(self.default_class_names)

    @property
    def default_input_shape(self) -> list[int]:
        raise NotImplementedError

    # --- what the model and the callbacks are told -------------------------------------------
    @property
    def class_names(self) -> list[str]:
        if self.has_state and "class_names" in self.data_state:
            names = list(self.data_state["class_names"])
            if self.classes and self.classes != names:
                raise LabError(
                    f"{self.name}: --data.init_args.classes {self.classes} differs from the checkpoint's "
                    f"classes {names}; pass the classes the model was trained on (or none)"
                )
            return names
        if not self.classes:
            return self.known_class_names()
        known = self.known_class_names()
        unknown = [c for c in self.classes if c not in known]
        doubled = sorted({c for c in self.classes if self.classes.count(c) > 1})
        if unknown or doubled:
            what = f"unknown classes {unknown}" if unknown else f"classes named twice {doubled}"
            raise LabError(
                f"{self.name}: {what} in --data.init_args.classes; the data has {known} (names are case-sensitive)"
            )
        return list(self.classes)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> list[int]:
        return list(self.data_state.get("input_shape") or self.default_input_shape)

    @property
    def mean(self) -> list[float] | None:
        """The channel mean the images are standardised with (the data state's, or the published one)."""
        m = self.data_state.get("mean", self.published_mean)
        return list(m) if m is not None else None

    @property
    def std(self) -> list[float] | None:
        s = self.data_state.get("std", self.published_std)
        return list(s) if s is not None else None

    def model_info(self) -> dict[str, Any]:
        """``num_classes``, ``class_names``, ``input_shape`` and its other forms ``in_channels``,
        ``image_size`` (last side) and ``in_features`` (product)."""
        shape = self.input_shape
        return {
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "input_shape": shape,
            "in_channels": shape[0],
            "image_size": shape[-1],
            "in_features": math.prod(shape),
        }

    def display_normalization(self) -> tuple[Any, Any]:
        return (self.mean, self.std) if self.normalize else (None, None)

    # --- data state --------------------------------------------------------------------------
    def fit_state(self, train: dict) -> dict[str, Any]:
        """Class list, input shape, and the channel mean/std: published constants where the data
        set has them, else those of the training images."""
        images = train["images"]
        if self.published_mean is not None and self.published_std is not None:
            mean, std = list(self.published_mean), list(self.published_std)
        else:
            mean, std = channel_stats(images)
            log.info(
                f"{self.name}: channel mean {[round(m, 4) for m in mean]}, std {[round(s, 4) for s in std]} "
                f"fitted on the {len(images)} training images"
            )
        return {"class_names": self.class_names, "input_shape": list(images.shape[1:]), "mean": mean, "std": std}

    # --- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        stage = stage or "fit"
        if stage == "predict" and self.predict_path:
            self._setup_predict()
            return
        needed = {"fit": ("train", "val", "test"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        wanted = needed.get(stage, ("train", "val", "test"))
        if all(s in self.datasets for s in wanted):
            return
        source, location = self.resolve()
        self.hparams["resolved_source"] = source
        splits = {k: self._labels_to_ids(v) for k, v in self._read(source, location).items()}
        if self.has_state and all(s in splits for s in wanted):
            # a restored state: only the splits asked for, no training data needed
            for s in wanted:
                self._check_shape(splits[s]["images"])
                self.datasets[s] = self._dataset(s, splits[s]["images"], splits[s]["labels"])
            log.info(f"{self.name}: " + ", ".join(f"{s} {len(self.datasets[s])}" for s in wanted) + f" ({source})")
            return
        self._setup_all(splits)

    def _setup_all(self, splits: dict[str, dict]) -> None:
        pool = splits.get("train") or splits.get("all")
        if pool is None:
            raise DataSourceError(f"{self.name}: no training images found (only {sorted(splits)}); {self.how_to_get}")
        held_out = {} if "test" in splits else {"test": self.test_fraction}
        held_out |= {} if "val" in splits else {"val": self.val_fraction}
        parts = split_indices(len(pool["labels"]), held_out, self.split, self.split_seed, labels=pool["labels"])
        self.indices = parts
        train_idx = parts["train"]
        if self.max_train_samples is not None:
            train_idx = train_idx[: self.max_train_samples]
        train = self._take(pool, train_idx)
        test = splits["test"] if "test" in splits else self._take(pool, parts["test"])
        val = splits["val"] if "val" in splits else self._take(pool, parts["val"])
        self.fitted_state(train)
        self._check_shape(train["images"])
        self.datasets = {
            s: self._dataset(s, d["images"], d["labels"]) for s, d in (("train", train), ("val", val), ("test", test))
        }
        log.info(
            f"{self.name}: train {len(self.datasets['train'])}, val {len(self.datasets['val'])}, "
            f"test {len(self.datasets['test'])} ({self.resolved_source}, {self.split} split)"
        )

    def _check_shape(self, images: Tensor) -> None:
        if list(images.shape[1:]) != self.input_shape:
            raise LabError(
                f"{self.name}: the images are {list(images.shape[1:])} but the checkpoint's input shape is "
                f"{self.input_shape}; pass data of the shape the model was trained on (e.g. "
                "--data.init_args.image_size)"
            )

    def _setup_predict(self) -> None:
        if "predict" in self.datasets:
            return
        if not self.has_state:  # no checkpoint: the statistics come from the training data
            self.setup("fit")
        c, h, w = self.input_shape
        images, names = read_image_files(Path(self.predict_path).expanduser(), "L" if c == 1 else "RGB", (h, w))
        self.predict_files = names
        self.datasets["predict"] = self._dataset("predict", images, None)
        log.info(f"{self.name}: predicting {len(names)} images from {self.predict_path}")

    def _dataset(self, split: str, images: Tensor, labels: Tensor | None) -> ImageTensorDataset:
        """The dataset of one split (subclasses wrap it, e.g. to add noise)."""
        mean, std = self.display_normalization()
        transform = self._train_transform() if split == "train" else None
        return ImageTensorDataset(images, labels, mean, std, transform)

    def _train_transform(self) -> Callable | None:
        steps = []
        if self.augment:
            side = self.input_shape[-1]
            steps += [v2.RandomCrop(side, padding=4), v2.RandomHorizontalFlip()]
        if self.train_transform is not None:
            steps.append(self.train_transform)
        return v2.Compose(steps) if steps else None

    def _labels_to_ids(self, split: dict) -> dict:
        """Turn label names into ids of ``class_names`` and drop classes not asked for."""
        labels = split["labels"]
        names = self.class_names
        if isinstance(labels, torch.Tensor):
            n = len(self.default_class_names)
            bad = sorted({int(v) for v in labels.unique() if not 0 <= int(v) < n})
            if bad:
                raise DataSourceError(
                    f"{self.name}: labels {bad[:5]} outside 0..{n - 1} ({n} classes); {self.how_to_get}"
                )
            if names == list(self.default_class_names):
                return split
            labels = [self.default_class_names[i] for i in labels.tolist()]
        unknown = sorted(set(labels) - set(names)) if not self.classes else []
        if unknown:
            raise DataSourceError(
                f"{self.name}: classes {unknown[:5]} in the data are not among {names[:10]}; "
                "pass --data.init_args.classes, or data with the classes the model was trained on"
            )
        index = {c: i for i, c in enumerate(names)}
        keep = torch.tensor([c in index for c in labels], dtype=torch.bool)
        ids = torch.tensor([index.get(c, -1) for c in labels], dtype=torch.long)
        return {"images": split["images"][keep], "labels": ids[keep]}

    @staticmethod
    def _take(split: dict, idx: Tensor) -> dict:
        return {"images": split["images"][idx], "labels": split["labels"][idx]}

    def _loader(self, split: str) -> DataLoader:
        if split == "train" and self.batch_size == "full":
            if "train" not in self.datasets:
                self.setup("fit")
            chunks = self.trainer.accumulate_grad_batches if self.trainer is not None else 1
            return self._resumable(self._served("train"), EqualChunks(len(self.datasets["train"]), chunks))
        return super()._loader(split)
