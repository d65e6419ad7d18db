"""Base LightningDataModule for image classification: sources, seeded splits, loaders."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from labcore.errors import DataSourceError
from datamodules.samplers import EqualChunks
from datamodules.sources import Source, default_data_dir, resolve_source
from datamodules.split_loaders import SplitLoaders
from datamodules.splits import seeded_split  # noqa: F401  (re-exported: text_classification imports it here)
from datamodules.tensor_dataset import ImageTensorDataset, dict_collate


class ImageClassificationDataModule(SplitLoaders, L.LightningDataModule):
    """Images in memory as uint8, split train/val/test with ``split_seed``.

    Subclasses say where the data comes from (``_read``, ``_full_copy``, ``_download``) and
    what it is (``default_class_names``, ``mean``, ``std``). A batch is
    ``{"image": float N x C x H x W, "label": int64 N}``.

    Args:
        source: ``auto`` (full local copy, else download, else embedded with a notice),
            ``embedded``, ``download`` or ``path``.
        path: the user's copy (format per subclass); implies ``source=path`` under ``auto``.
        data_dir: download / full-copy directory (default ``$DL_LABS_DATA`` or ``~/.cache/dl-labs``).
        batch_size: training batch size; ``eval_batch_size`` for val/test (default: the same).
            ``full``: full-batch gradient descent, the training set as
            ``trainer.accumulate_grad_batches`` equal chunks (see ``samplers.EqualChunks``).
        val_fraction: share of the training pool held out for validation.
        test_fraction: share held out for test where the source has no test split.
        split_seed: seed of the train/val/test split only.
        max_train_samples: keep only this many training examples (seeded), for quick runs.
        classes: keep only these classes (names), relabelled 0..k-1 in the given order.
        augment: the standard random crop (padding 4) + horizontal flip.
        train_transform: any torchvision v2 transform on uint8 CHW tensors (applied after ``augment``).
        normalize: standardise with the data set's channel mean/std.
        num_workers: DataLoader workers (in-memory data rarely needs any).
    """

    name = "images"
    host = ""
    how_to_get = ""
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    default_class_names: list[str] = []

    def __init__(
        self,
        source: Source = "auto",
        path: str | None = None,
        data_dir: str | None = None,
        batch_size: int | Literal["full"] = 64,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        max_train_samples: int | None = None,
        classes: list[str] | None = None,
        augment: bool = False,
        train_transform: Callable | None = None,
        normalize: bool = True,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["train_transform"])
        self.source = source
        self.path = path
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or (batch_size if batch_size != "full" else 1000)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.max_train_samples = max_train_samples
        self.classes = classes
        self.augment = augment
        self.train_transform = train_transform
        self.normalize = normalize
        self.num_workers = num_workers
        self.resolved_source: str | None = None
        self._location: Path | None = None
        self.datasets: dict[str, ImageTensorDataset] = {}
        self._input_shape: list[int] | None = None

    # --- what subclasses provide -------------------------------------------------------------
    def _read(self, source: str, location: Path | None) -> dict[str, dict]:
        """``{split: {"images": uint8 NCHW, "labels": int tensor or list of names}}``."""
        raise NotImplementedError

    def _full_copy(self) -> Path | None:
        return None

    def _download(self) -> Path:
        raise DataSourceError(f"{self.name}: no download available; {self.how_to_get}")

    @property
    def default_input_shape(self) -> list[int]:
        raise NotImplementedError

    # --- what the model is told (see cli.py: data -> model links) ----------------------------
    @property
    def class_names(self) -> list[str]:
        return list(self.classes) if self.classes else list(self.default_class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> list[int]:
        return self._input_shape or self.default_input_shape

    def model_info(self) -> dict[str, Any]:
        """Values the CLI fills into the model and net arguments of the same name."""
        shape = self.input_shape
        return {"num_classes": self.num_classes, "class_names": self.class_names, "input_shape": shape,
                "in_channels": shape[0], "image_size": shape[-1], "in_features": math.prod(shape)}

    # --- Lightning hooks ---------------------------------------------------------------------
    def resolve(self) -> tuple[str, Path | None]:
        if self.resolved_source is None:
            self.resolved_source, self._location = resolve_source(
                self.name, self.source, self.path, self._full_copy, self._download, self.how_to_get, self.host
            )
            rank_zero_info(f"[dl-labs] {self.name}: source resolved to {self.resolved_source}"
                           + (f" ({self._location})" if self._location else ""))
        return self.resolved_source, self._location

    def prepare_data(self) -> None:
        self.resolve()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        source, location = self.resolve()
        self.hparams["resolved_source"] = source
        splits = self._read(source, location)
        splits = {k: self._labels_to_ids(v) for k, v in splits.items()}
        train_pool = splits.get("train") or splits.get("all")
        if train_pool is None:
            raise DataSourceError(f"{self.name}: no training images found; {self.how_to_get}")
        n = len(train_pool["labels"])
        held_out = [] if "test" in splits else [self.test_fraction]
        held_out += [] if "val" in splits else [self.val_fraction]
        parts = seeded_split(n, held_out, self.split_seed)
        train_idx = parts.pop()
        test = splits["test"] if "test" in splits else self._take(train_pool, parts.pop(0))
        val = splits["val"] if "val" in splits else self._take(train_pool, parts.pop(0))
        if self.max_train_samples is not None:
            train_idx = train_idx[: self.max_train_samples]
        train = self._take(train_pool, train_idx)
        self._input_shape = list(train["images"].shape[1:])
        mean, std = (self.mean, self.std) if self.normalize else (None, None)
        self.datasets = {
            "train": ImageTensorDataset(train["images"], train["labels"], mean, std, self._train_transform()),
            "val": ImageTensorDataset(val["images"], val["labels"], mean, std),
            "test": ImageTensorDataset(test["images"], test["labels"], mean, std),
        }
        rank_zero_info(
            f"[dl-labs] {self.name}: train {len(self.datasets['train'])}, val {len(self.datasets['val'])}, "
            f"test {len(self.datasets['test'])} ({self.resolved_source})"
        )

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
            if self.classes is None:
                return split
            labels = [self.default_class_names[i] for i in labels.tolist()]
        unknown = sorted(set(labels) - set(names)) if not self.classes else []
        if unknown:
            raise DataSourceError(f"{self.name}: unknown classes {unknown[:5]} in the data; pass --data.init_args.classes")
        index = {c: i for i, c in enumerate(names)}
        keep = torch.tensor([c in index for c in labels])
        ids = torch.tensor([index.get(c, -1) for c in labels])
        return {"images": split["images"][keep], "labels": ids[keep]}

    @staticmethod
    def _take(split: dict, idx: torch.Tensor) -> dict:
        return {"images": split["images"][idx], "labels": split["labels"][idx]}

    def _loader(self, split: str) -> DataLoader:
        if not self.datasets:
            self.setup()
        if split == "train" and self.batch_size == "full":
            chunks = self.trainer.accumulate_grad_batches if self.trainer is not None else 1
            batching = {"batch_sampler": EqualChunks(len(self.datasets[split]), chunks)}
        else:
            batching = {"batch_size": self.batch_size if split == "train" else self.eval_batch_size,
                        "shuffle": split == "train"}
        return DataLoader(
            self.datasets[split],
            **batching,
            num_workers=self.num_workers,
            collate_fn=dict_collate,
            persistent_workers=self.num_workers > 0,
        )

    def state_dict(self) -> dict[str, Any]:
        # Saved in every checkpoint: what `predict` on a new machine needs to decode outputs.
        return {"class_names": self.class_names, "mean": list(self.mean), "std": list(self.std),
                "input_shape": self.input_shape, "resolved_source": self.resolved_source}
