"""Tables from a CSV file: columns chosen by name, preprocessing fitted on the training rows only.

Batches are ``{"x": float N x F, "label": N class ids}`` (classification) or ``{"x": ..., "y": N x 1
scaled target}`` (regression). The column statistics (imputation, standardisation, category lists),
the class list / target scaling and the training class counts are the data state saved in every
checkpoint (plain lists: readable with ``weights_only=True``), so ``test`` / ``predict --ckpt_path``
rebuild the same features without refitting anything.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from datamodules.base import EMBEDDED_DIR, LabDataModule, split_indices
from datamodules.imbalance import (
    IMBALANCE,
    Imbalance,
    balanced_class_weights,
    resample,
    sample_weights,
    subsample_minority,
)
from datamodules.samplers import WeightedBatches
from datamodules.tabular_features import (
    DEFAULT_PREPROCESSING,
    Preprocessing,
    fit_features,
    numeric_column,
    transform,
)
from labcore import log
from labcore.errors import DataSourceError, LabError

TABLE_DIR = EMBEDDED_DIR / "tabular"
# dataset name -> (file under a ../shared/data-like folder, embedded file)
KNOWN: dict[str, tuple[str, str]] = {
    "california_housing": ("california_housing/housing.csv.gz", "california_housing.csv.gz"),
    "titanic": ("titanic/train.csv", "titanic_train.csv.gz"),
    "creditcard_fraud": ("creditcard_fraud_sample/creditcard_sample.csv.gz", "creditcard_fraud.csv.gz"),
}


class TableDataset(Dataset):
    """In-memory ``x`` (N x F float) and an optional target, served as whole-batch dicts (cut on the device
    the tensors live on: ``datamodules.device_batches``)."""

    device_batches: ClassVar[bool] = True

    def __init__(self, x: Tensor, target: Tensor | None, target_key: str) -> None:
        self.x, self.target, self.target_key = x, target, target_key

    def __len__(self) -> int:
        return len(self.x)

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.x.device)
        item = {"x": self.x[idx]}
        if self.target is not None:
            item[self.target_key] = self.target[idx]
        return item

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


class TabularDataModule(LabDataModule):
    """A CSV table: numeric and categorical feature columns by name, a regression or classification target.

    Args:
        dataset: ``california_housing | titanic | creditcard_fraud`` selects the embedded sample and the
            file looked for under ``path`` / ``data_dir`` when ``path`` is a folder (e.g. ``../shared/data``);
            None: ``path`` must be the CSV file.
        target: the target column. task: ``classification`` or ``regression``.
        numeric: numeric feature columns (None: every column not named elsewhere, except unnamed index
            columns). categorical: categorical feature columns. exclude: columns never used.
        preprocessing: ``Preprocessing`` (``impute``, ``scale``, ``encoding``, ``target_scaling``), fitted on
            the training rows only.
        class_names: display names of the sorted class values (e.g. ``[normal, fraud]``).
        val_fraction / test_fraction: held-out shares (a real validation split: val_fraction > 0).
        imbalance: training-split strategy (``datamodules.imbalance``).
        minority_fraction: cut the least frequent class down (seeded by ``split_seed``) to this share of
            all rows BEFORE the split (e.g. 0.02 recreates a realistic fraud ratio).
        sampling_seed: seed of the resamplers and the weighted sampler.
        predict_path: a CSV of raw rows (the same columns; the target may be absent) for ``predict``.
        kwargs: the ``LabDataModule`` arguments (``source``, ``path``, ``data_dir``, ``split``, ``split_seed``,
            ``batch_size``, ``eval_batch_size``, ``num_workers``, ``from_checkpoint``, and ``on_device``: on a
            CUDA trainer, keep the rows in device memory and cut batches there; a no-op on CPU).
    """

    name = "table"
    moved_options: ClassVar[dict[str, str]] = {
        k: f"preprocessing.{k}" for k in ("impute", "scale", "encoding", "target_scaling")
    }
    how_to_get = "pass --data.init_args.path with the CSV file (or the folder holding ../shared/data's copy)"
    optional_model_info: ClassVar[frozenset[str]] = frozenset(
        {"in_features", "out_features", "class_names", "class_weights", "target_names"}
    )

    def __init__(
        self,
        dataset: str | None = None,
        target: str = "",
        task: Literal["classification", "regression"] = "classification",
        numeric: list[str] | None = None,
        categorical: list[str] = [],  # noqa: B006 - jsonargparse needs a literal default
        exclude: list[str] = [],  # noqa: B006
        preprocessing: Preprocessing = DEFAULT_PREPROCESSING,
        class_names: list[str] | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        imbalance: Imbalance = "none",
        minority_fraction: float | None = None,
        sampling_seed: int = 0,
        predict_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the ``LabDataModule`` arguments (``source``, ``path``, ``batch_size``, ``on_device``, ...)."""
        if dataset is not None and dataset not in KNOWN:
            raise LabError(f"unknown dataset {dataset!r}; pass --data.init_args.dataset {' | '.join(KNOWN)} or null")
        if task not in ("classification", "regression"):
            raise LabError(f"unknown task {task!r}; pass --data.init_args.task classification or regression")
        if imbalance not in IMBALANCE:
            raise LabError(f"unknown imbalance {imbalance!r}; pass --data.init_args.imbalance {' | '.join(IMBALANCE)}")
        if imbalance != "none" and task != "classification":
            raise LabError(f"imbalance={imbalance} needs task: classification; pass --data.init_args.imbalance none")
        if val_fraction <= 0:
            # the report validated on the test set (docs/ledger.md): model selection needs rows of its own
            raise LabError(
                f"val_fraction={val_fraction}; pass a share > 0 (e.g. 0.15): the test set is never the validation set"
            )
        if not target:
            raise LabError("no target column; pass --data.init_args.target COLUMN")
        self.name = dataset or "table"
        kwargs["split"] = kwargs.get("split") or ("stratified" if task == "classification" else "random")
        super().__init__(**kwargs)
        pre = Preprocessing(**preprocessing) if isinstance(preprocessing, Mapping) else preprocessing
        self.dataset, self.target, self.task = dataset, target, task
        self.numeric, self.categorical, self.exclude = numeric, list(categorical), list(exclude)
        self.impute, self.scale = pre.impute, pre.scale
        self.encoding, self.target_scaling = pre.encoding, pre.target_scaling
        self.display_names = list(class_names) if class_names else None
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.imbalance, self.minority_fraction, self.sampling_seed = imbalance, minority_fraction, sampling_seed
        self.predict_path = predict_path
        self.target_key = "label" if task == "classification" else "y"
        self.frames: dict[str, pd.DataFrame] | None = None
        self.split_rows: dict[str, np.ndarray] = {}  # split -> row numbers in the file (after dropped rows)

    # --- source ---------------------------------------------------------------------------
    def _full_copy(self) -> Path | None:
        if self.dataset is None:
            return None
        p = self.data_dir / KNOWN[self.dataset][0]
        return p if p.is_file() else None

    def _csv_file(self) -> Path:
        resolved, location = self.resolve()
        if resolved == "embedded":
            if self.dataset is None:
                raise DataSourceError(
                    "table: no embedded sample without a dataset name; pass --data.init_args.path FILE.csv "
                    f"or --data.init_args.dataset {' | '.join(KNOWN)}"
                )
            return TABLE_DIR / KNOWN[self.dataset][1]
        assert location is not None
        if location.is_file():
            return location
        if self.dataset is not None:
            for p in (location / KNOWN[self.dataset][0], location / Path(KNOWN[self.dataset][0]).name):
                if p.is_file():
                    return p
        raise DataSourceError(f"{self.name}: {location} is a folder without the CSV file; {self.how_to_get}")

    @staticmethod
    def read_csv(path: Path) -> pd.DataFrame:
        """The CSV (plain or gzip) as strings-or-numbers, missing entries NaN; one-line error when unreadable."""
        try:
            if path.suffix == ".gz":
                with gzip.open(path, "rt", encoding="utf-8") as f:
                    return pd.read_csv(f)
            return pd.read_csv(path, encoding="utf-8")
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise DataSourceError(
                f"{path} is not a readable CSV ({type(err).__name__}); pass a CSV with a header row"
            ) from None

    # --- columns and rows -------------------------------------------------------------------
    def _columns(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        named = [self.target, *self.categorical, *(self.numeric or []), *self.exclude]
        missing = [c for c in named if c not in frame.columns]
        if missing:
            raise LabError(
                f"{self.name}: no column {missing[0]!r} in the CSV (it has {', '.join(map(str, frame.columns))}); "
                f"fix --data.init_args.target / numeric / categorical / exclude"
            )
        numeric = self.numeric
        if numeric is None:  # every other column, but not the unnamed index column pandas calls "Unnamed: 0"
            skip = {self.target, *self.categorical, *self.exclude}
            numeric = [c for c in frame.columns if c not in skip and not str(c).startswith("Unnamed:")]
        return list(numeric), list(self.categorical)

    def _load(self) -> None:
        """Read the CSV once, drop rows without a target and exact duplicate rows, subsample the minority class
        if asked, split."""
        if self.frames is not None:
            return
        frame = self.read_csv(self._csv_file())
        self._columns(frame)
        raw = frame[self.target]
        if self.task == "regression":
            has_target = ~np.isnan(numeric_column(frame, self.target, self.name))
        else:
            has_target = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
        if not has_target.all():
            log.warn(f"{self.name}: {int((~has_target).sum())} rows without a {self.target!r} value dropped")
        # An exact copy of a row (an index column pandas calls "Unnamed: 0" aside) in two splits would be
        # scored on the very row the model trained on: keep the first of each before splitting.
        columns = [c for c in frame.columns if not str(c).startswith("Unnamed:")]
        repeated = frame.duplicated(subset=columns, keep="first").to_numpy() & has_target
        if repeated.any():
            log.warn(
                f"{self.name}: {int(repeated.sum())} exact duplicate rows dropped before the split "
                "(the first of each kept), so no row is both trained on and evaluated"
            )
        rows = np.nonzero(has_target & ~repeated)[0]
        labels = None
        if self.task == "classification":
            labels = class_values(frame[self.target].iloc[rows])
            if self.minority_fraction is not None:
                keep = subsample_minority(labels, self.minority_fraction, self.split_seed)
                rows, labels = rows[keep], labels[keep]
        parts = split_indices(
            len(rows),
            {"test": self.test_fraction, "val": self.val_fraction},
            kind=self.split,
            seed=self.split_seed,
            labels=labels if self.split == "stratified" else None,
        )
        self.split_rows = {k: rows[v.numpy()] for k, v in parts.items()}
        self.frames = {k: frame.iloc[r].reset_index(drop=True) for k, r in self.split_rows.items()}

    # --- data state (training rows only) -------------------------------------------------------
    def fit_state(self, train: pd.DataFrame) -> dict[str, Any]:
        numeric, categorical = self._columns(train)
        state = fit_features(train, numeric, categorical, self.impute, self.scale, self.encoding)
        state["task"] = self.task
        state["target"] = self.target
        if self.task == "regression":
            y = numeric_column(train, self.target, "train")
            scaled = self.target_scaling == "standard"
            state["target_shift"] = [float(y.mean()) if scaled else 0.0]
            state["target_scale"] = [float(y.std()) if scaled and y.std() > 0 else 1.0]
        else:
            values = pd.Series(class_values(train[self.target]))
            classes = sorted(values.unique().tolist(), key=_class_order)
            if len(classes) < 2:
                raise LabError(f"{self.name}: the training rows hold one class only ({classes}); check the target")
            if self.display_names is not None and len(self.display_names) != len(classes):
                raise LabError(
                    f"class_names {self.display_names} name {len(self.display_names)} classes, the data has "
                    f"{len(classes)} ({classes}); pass one name per class in sorted order"
                )
            state["classes"] = classes
            state["class_names"] = self.display_names or classes
            state["class_counts"] = [int((values == c).sum()) for c in classes]
        return state

    def _state(self) -> dict[str, Any]:
        if not self.has_state:
            self._load()
            assert self.frames is not None
            self.fitted_state(self.frames["train"])
        return self.data_state

    def model_info(self) -> dict[str, Any]:
        state = self._state()
        info: dict[str, Any] = {"in_features": len(state["feature_names"])}
        if state["task"] == "regression":
            return {
                **info,
                "out_features": 1,
                "target_shift": list(state["target_shift"]),
                "target_scale": list(state["target_scale"]),
                "target_names": [state["target"]],
            }
        counts = list(state["class_counts"])
        return {
            **info,
            "out_features": len(counts),
            "num_classes": len(counts),
            "class_names": list(state["class_names"]),
            "class_weights": balanced_class_weights(counts) if self.imbalance == "class_weights" else None,
        }

    @property
    def class_names(self) -> list[str]:
        return list(self._state().get("class_names", []))

    # --- datasets ------------------------------------------------------------------------------
    def _tensors(self, frame: pd.DataFrame, what: str) -> tuple[np.ndarray, np.ndarray | None]:
        state = self.data_state
        x = transform(frame, state, what)
        if state["target"] not in frame.columns:
            return x, None
        if state["task"] == "regression":
            y = numeric_column(frame, state["target"], what)
            keep = ~np.isnan(y)
            y = (y - state["target_shift"][0]) / state["target_scale"][0]
        else:
            index = {c: i for i, c in enumerate(state["classes"])}
            values = class_values(frame[state["target"]])
            keep = np.array([v in index for v in values], dtype=bool)
            y = np.array([index.get(v, -1) for v in values], dtype=np.int64)
        if what == "predict":  # one prediction per input row, in file order: a blank target is no reason to drop
            if keep.all():
                return x, y.astype(np.float32)[:, None] if state["task"] == "regression" else y
            known = "a number" if state["task"] == "regression" else f"one of the classes {state['classes']}"
            log.info(
                f"predict: {int((~keep).sum())} of {len(keep)} rows have a {state['target']!r} cell that is not "
                f"{known} (blank or new); every row is predicted, without the true values"
            )
            return x, None
        if state["task"] == "regression":
            return x[keep], y[keep].astype(np.float32)[:, None]
        if not keep.all():
            log.warn(f"{what}: {int((~keep).sum())} rows of classes the training rows never had dropped")
        return x[keep], y[keep]

    def _dataset(self, x: np.ndarray, y: np.ndarray | None) -> TableDataset:
        target = None if y is None else torch.from_numpy(y)
        return TableDataset(torch.from_numpy(x), target, self.target_key)

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict" and self.predict_path:
            self._state()
            frame = self.read_csv(Path(self.predict_path).expanduser())
            self.datasets["predict"] = self._dataset(*self._tensors(frame, "predict"))
            return
        self._load()
        self._state()
        assert self.frames is not None
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        for split in wanted.get(stage or "fit", ("train", "val", "test")):
            if split in self.datasets:
                continue
            x, y = self._tensors(self.frames[split], split)
            if split == "train" and y is not None and self.task == "classification":
                x, y = resample(x, y, self.imbalance, self.sampling_seed)  # training rows only
            self.datasets[split] = self._dataset(x, y)
        if stage in ("fit", None):
            sizes = ", ".join(f"{k} {len(self.datasets[k])}" for k in ("train", "val") if k in self.datasets)
            log.info(
                f"{self.name}: {sizes}, test {len(self.frames['test'])} rows; "
                f"{len(self.data_state['feature_names'])} features; source {self.resolved_source}"
            )

    def _loader(self, split: str) -> DataLoader:
        if split != "train" or self.imbalance != "weighted_sampler":
            return super()._loader(split)
        if "train" not in self.datasets:
            self.setup("fit")
        ds = self.datasets["train"]
        assert isinstance(ds, TableDataset) and ds.target is not None
        # draws seeded by (sampling_seed, epoch), and a saved position: a restart continues mid-epoch exactly
        draws = WeightedBatches(
            sample_weights(ds.target, list(self.data_state["class_counts"])), self.batch_size, seed=self.sampling_seed
        )
        return self._resumable(self._served("train"), draws)  # the weights above come from the host copy


def class_values(column: pd.Series) -> np.ndarray:
    """Target cells as class names: stripped strings, and whole numbers as integers (``"1"``, not the ``"1.0"``
    pandas reads where a blank cell turned an integer column into floats)."""
    if pd.api.types.is_float_dtype(column):
        return np.array([str(v) if pd.isna(v) or not float(v).is_integer() else str(int(v)) for v in column], object)
    return column.astype(str).str.strip().to_numpy()


def _class_order(value: str) -> tuple[int, float | str]:
    """Numbers in numeric order (``2`` before ``10``), then names alphabetically."""
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)
