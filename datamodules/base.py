"""The data-side contract: what ``cli.py``, the callbacks and checkpoints rely on in a datamodule.

Every datamodule derives from :class:`LabDataModule`. Nothing outside the attributes and
methods documented on that class is looked up on a datamodule:

- **cli.py** instantiates the datamodule, fills ``from_checkpoint`` from ``--ckpt_path`` (for
  every datamodule whose constructor has that argument), and calls ``model_info()`` before the
  model is built; each key fills the model / net constructor argument of the same name. Keys in
  ``optional_model_info`` are alternative forms of one fact (``input_shape`` / ``in_channels`` /
  ``image_size`` / ``in_features``, ``class_names``) that only some nets take, so no argument
  taking them is normal; any other key no argument takes is worth a warning.
- **callbacks** read ``datasets[split]`` (a ``Dataset`` per ``"train" | "val" | "test"``
  [``| "predict"``] whose items are dicts of named tensors), ``display_normalization()`` (the
  ``(mean, std)`` to undo before drawing images, or ``(None, None)``), and, where they apply,
  ``class_names`` and ``input_shape``.
- **checkpoints**: ``state_dict()`` is the data state (statistics fitted on the training split,
  class list, input shape, ...) with the marker ``"lab_data": 1``, which
  ``labcore.checkpoints.datamodule_state`` finds; Lightning saves it in every checkpoint and
  calls ``load_state_dict()`` with it on ``--ckpt_path``.

The split helpers (``split_indices``, ``seeded_split``, ``stratified_split``, ``ordered_split``,
``canonical_split``) live in ``datamodules.splits`` and are exported here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.checks import at_least, empty_split
from datamodules.device_batches import served
from datamodules.resumable import ResumableLoader, SeededFetch
from datamodules.samplers import ShuffledBatches
from datamodules.sources import EMBEDDED_DIR, Source, resolve_source
from datamodules.splits import (
    SPLIT_KINDS,
    SplitKind,
    canonical_split,
    ordered_split,
    seeded_split,
    split_indices,
    stratified_split,
)
from datamodules.tensor_dataset import dict_collate
from labcore import log
from labcore.checkpoints import datamodule_state
from labcore.errors import DataSourceError, LabError
from labcore.offline import default_data_dir

__all__ = [
    "EMBEDDED_DIR",
    "SPLIT_KINDS",
    "LabDataModule",
    "Source",
    "SplitKind",
    "canonical_split",
    "ordered_split",
    "seeded_split",
    "split_indices",
    "stratified_split",
]

STATE_MARKER = "lab_data"


class LabDataModule(L.LightningDataModule):
    """Base of every dl-labs datamodule: source resolution, splits, train-only statistics,
    the data state saved in checkpoints, and the loader hooks.

    **Source** (class attributes ``name``, ``host``, ``how_to_get``; subclasses override
    ``_full_copy`` / ``download`` where there is a full copy or a download): ``resolve()``
    turns ``source`` / ``path`` into ``(resolved_source, location)`` once, logs it, and sets
    ``resolved_source`` (``"embedded" | "download" | "path"``; ``location`` is None for embedded).

    **Splits**: ``split`` (``random | stratified | ordered``; default ``default_split``) and
    ``split_seed`` choose how held-out parts are carved where the data has none;
    ``split_indices(n, {"test": f, "val": f}, labels=...)`` applies them. Split folders and
    files named ``dev`` / ``validation`` / ``valid`` / ``val`` are the validation split
    (``canonical_split``).

    **Data state**: ``fit_state(train)`` (override) computes what is learnt from the TRAINING
    split only (normalisation mean/std, class list, vocabulary, ...) as a dict of plain values
    (lists, numbers, strings, tensors). Subclasses call ``fitted_state(train)`` in ``setup``,
    which returns the restored state when there is one, else fits and stores it in
    ``data_state``. ``state_dict()`` / ``load_state_dict()`` save and restore ``data_state``.
    With ``from_checkpoint`` set (cli.py fills it from ``--ckpt_path``), the state is read from
    that checkpoint at construction, before the model is built, so ``model_info()`` needs no
    data, and with a restored state (``has_state``) ``setup("test")`` needs only the test split
    and ``setup("predict")`` only the predict inputs.

    **Loaders**: ``train/val/test/predict_dataloader`` serve ``datasets[split]`` (``predict``:
    ``datasets["predict"]`` if set, else the test split) through ``_loader(split)``; override
    ``_loader`` for special batching. ``batch_size`` for training (shuffled), ``eval_batch_size``
    for the rest. The training loader is a ``datamodules.resumable.ResumableLoader``: its order
    follows ``(seed, epoch)`` and its position is saved in checkpoints (exact mid-epoch resume).
    Loaders serve ``_served(split)``: ``datasets[split]``, or with ``on_device`` its copy in the trainer's
    CUDA memory (``datamodules.device_batches``; only datamodules whose constructor takes ``on_device``).

    Args:
        source: ``auto`` (a full local copy, else a download, else the embedded sample with a
            loud notice), ``embedded``, ``download`` or ``path``.
        path: the user's copy (format per subclass); implies ``source=path`` under ``auto``.
        data_dir: download / full-copy directory (default ``$DL_LABS_DATA`` or ``~/.cache/dl-labs``).
        split: how held-out parts are carved (``random | stratified | ordered``; None: ``default_split``).
        split_seed: seed of the split only (never the training seed).
        batch_size / eval_batch_size: training / evaluation batch size (default: the same).
        num_workers: DataLoader workers.
        from_checkpoint: a Lightning checkpoint whose data state to use (cli.py fills it from ``--ckpt_path``).
        on_device: keep in-memory tensor datasets in the (CUDA) trainer's device memory and cut batches there
            (no workers); a no-op on CPU. See ``datamodules.device_batches``; the attribute ``batch_device``
            (e.g. ``"cpu"``) forces the device, so tests run that path without a GPU.
    """

    name: ClassVar[str] = "data"
    host: ClassVar[str] = ""
    how_to_get: ClassVar[str] = "pass --data.init_args.path"
    default_split: ClassVar[SplitKind] = "random"
    optional_model_info: ClassVar[frozenset[str]] = frozenset()
    # options that moved into a nested group: old key -> new key (the CLI's error names the new one)
    moved_options: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        source: Source = "auto",
        path: str | None = None,
        data_dir: str | None = None,
        split: SplitKind | None = None,
        split_seed: int = 0,
        batch_size: Any = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        from_checkpoint: str | None = None,
        on_device: bool = False,
    ) -> None:
        super().__init__()
        if source not in ("auto", "embedded", "download", "path"):
            raise DataSourceError(f"{self.name}: unknown source {source!r}; use auto, embedded, download or path")
        if split is not None and split not in SPLIT_KINDS:
            raise LabError(
                f"{self.name}: unknown split {split!r}; pass --data.init_args.split {' | '.join(SPLIT_KINDS)}"
            )
        at_least(self.name, 1, batch_size=batch_size, eval_batch_size=eval_batch_size)
        at_least(self.name, 0, num_workers=num_workers)
        self.source, self.path = source, path
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.split: SplitKind = split or self.default_split
        self.split_seed = split_seed
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.on_device = on_device
        self.batch_device: str | None = None  # on_device's device; None: the trainer's (tests force "cpu")
        if on_device and num_workers:
            log.info(f"{self.name}: on_device cuts batches in device memory; num_workers {num_workers} -> 0")
            self.num_workers = 0
        self.from_checkpoint = from_checkpoint
        self.resolved_source: str | None = None
        self._location: Path | None = None
        self.datasets: dict[str, Dataset] = {}
        self.data_state: dict[str, Any] = {}
        self.has_state = False  # True once a state came from a checkpoint (or was fitted)
        if from_checkpoint:
            state = datamodule_state(from_checkpoint, "--data.init_args.from_checkpoint / --ckpt_path")
            if state is None:
                log.warn(f"{self.name}: {from_checkpoint} holds no dl-labs data state; fitting it from the data again")
            else:
                self._set_state(state)
                log.info(f"{self.name}: data state restored from {from_checkpoint}")

    # --- source --------------------------------------------------------------------------
    def _full_copy(self) -> Path | None:
        """An existing full local copy (e.g. under ``data_dir``), or None."""
        return None

    def download(self) -> Path:
        """Fetch the full set into ``data_dir`` and return its location."""
        raise DataSourceError(f"{self.name}: no download available; {self.how_to_get}")

    def resolve(self) -> tuple[str, Path | None]:
        """``(resolved_source, location)``, resolved (and logged) once."""
        if self.resolved_source is None:
            if self.source == "download" and type(self).download is LabDataModule.download:
                self.download()  # one line, without probing the network first
            self.resolved_source, self._location = resolve_source(
                self.name, self.source, self.path, self._full_copy, self.download, self.how_to_get, self.host
            )
            log.info(
                f"{self.name}: source resolved to {self.resolved_source}"
                + (f" ({self._location})" if self._location else "")
            )
        return self.resolved_source, self._location

    def prepare_data(self) -> None:
        # rank 0 only under DDP: downloads happen here; every rank resolves again in setup
        if not (self.has_state and self.from_checkpoint):
            self.resolve()

    # --- data state ------------------------------------------------------------------------
    def fit_state(self, train: Any) -> dict[str, Any]:
        """Override: what is learnt from the TRAINING split ``train`` only (e.g. ``{"mean": [...],
        "std": [...]}``), as plain values. Never called when a state was restored."""
        return {}

    def fitted_state(self, train: Any) -> dict[str, Any]:
        """The data state: the restored one if any, else ``fit_state(train)`` (then stored)."""
        if not self.has_state:
            self._set_state(self.fit_state(train))
        return self.data_state

    def _set_state(self, state: dict[str, Any]) -> None:
        self.data_state = {k: v for k, v in state.items() if k not in (STATE_MARKER, "resolved_source")}
        self.has_state = True

    def state_dict(self) -> dict[str, Any]:
        """``{"lab_data": 1, **data_state, "resolved_source": ...}``, saved in every checkpoint."""
        return {STATE_MARKER: 1, **self.data_state, "resolved_source": self.resolved_source}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the data state. Lightning calls this after ``setup``; if the state differs from
        the one the datasets were built with, they are rebuilt with it on the next loader request."""
        before = dict(self.data_state) if self.has_state else None
        self._set_state(state)
        if self.datasets and not _same(before, self.data_state):
            log.info(f"{self.name}: the checkpoint's data state differs from the fitted one; rebuilding the datasets")
            self.datasets = {}

    # --- what the model and the callbacks read ---------------------------------------------
    def model_info(self) -> dict[str, Any]:
        """Values cli.py fills into model / net constructor arguments of the same name
        (``num_classes``, ``class_names``, ``input_shape``, ``in_channels``, ``vocab_size``, ...).
        Must not need the training data when a state was restored."""
        return {}

    def display_normalization(self) -> tuple[Any, Any]:
        """``(mean, std)`` per channel that the images in the batches were standardised with
        (to undo before drawing them), or ``(None, None)`` when they were not."""
        return None, None

    # --- loaders ---------------------------------------------------------------------------
    def _loader(self, split: str) -> DataLoader:
        """A DataLoader over ``datasets[split]`` (set up on demand); ``predict`` falls back to ``test``."""
        key = split
        if split == "predict" and "predict" not in self.datasets:
            self.setup("predict")
            key = "predict" if "predict" in self.datasets else "test"
        if key not in self.datasets:
            self.setup({"train": "fit", "val": "fit", "test": "test"}.get(key, key))
        if len(self.datasets[key]) == 0:  # type: ignore[arg-type]
            raise empty_split(self.name, key)
        train = key == "train" and split == "train"
        ds = self._served(key)
        if train:  # order from (seed, epoch) and a saved position: a restart continues mid-epoch exactly
            order = ShuffledBatches(len(ds), self.batch_size, seed=torch.initial_seed())  # type: ignore[arg-type]
            return self._resumable(ds, order)
        return DataLoader(
            ds,
            batch_size=self.eval_batch_size_for(split, len(ds)),  # type: ignore[arg-type]
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=dict_collate,
            persistent_workers=self.num_workers > 0,
        )

    def eval_batch_size_for(self, split: str, n: int) -> int:
        """``eval_batch_size``, made smaller where the trainer's fractional ``limit_<split>_batches`` (e.g.
        ``--trainer.limit_val_batches 0.2``) would keep no batch of the ``n`` examples (the embedded sets fit
        in one evaluation batch): then just small enough that the fraction keeps one, with a notice."""
        size = int(self.eval_batch_size)
        limit = getattr(self.trainer, f"limit_{split}_batches", None) if self.trainer is not None else None
        if not isinstance(limit, float) or not 0.0 < limit < 1.0 or n == 0:
            return size
        world = max(int(getattr(self.trainer, "world_size", 1) or 1), 1)
        per_rank = -(-n // world)
        batches = -(-per_rank // size)
        if batches * limit >= 1:
            return size
        smaller = max(1, per_rank // math.ceil(1 / limit - 1e-9))
        while smaller > 1 and int(-(-per_rank // smaller) * limit) < 1:  # Lightning keeps int(batches * limit)
            smaller -= 1
        log.info(
            f"{self.name}: limit_{split}_batches {limit} of {batches} {split} batch(es) would keep none; "
            f"eval_batch_size {size} -> {smaller} for this run ({-(-per_rank // smaller)} batches)"
        )
        return smaller

    def _resumable(self, ds: Dataset, batch_sampler: Any) -> ResumableLoader:
        """The training loader over ``ds``: ``batch_sampler`` (a ``datamodules.samplers.ShardedBatchSampler``)
        fixes the order and resumes it, and each batch reads under its own seed (``SeededFetch``); a subclass
        with its own batching passes its own sampler here."""
        return ResumableLoader(
            SeededFetch(ds),
            batch_sampler=batch_sampler,
            num_workers=self.num_workers,
            collate_fn=dict_collate,
            persistent_workers=self.num_workers > 0,
        )

    def _served(self, key: str) -> Dataset:
        """What the loader of ``datasets[key]`` serves: the dataset, or its device copy under ``on_device``."""
        return served(self, key)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")


def _plain(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


def _same(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    return a is not None and _plain(a) == _plain(b)
