"""A training DataLoader whose order and position survive a restart: exact mid-epoch resume.

Lightning saves ``state_dict()`` of every training loader that has one in each checkpoint (the fit loop's
``combined_loader`` entry) and calls ``load_state_dict()`` on ``--ckpt_path`` before it iterates again. Its
fetcher does not prefetch loaders with a length, so the batches this loader has handed out are exactly the
batches the loop consumed when a checkpoint is written, with or without workers.

Only public DataLoader API is used: the order and the skip live in a stateful batch sampler
(``datamodules.samplers.ShardedBatchSampler``), and the loader counts the batches it hands out by wrapping
``__iter__``. torchdata's ``StatefulDataLoader`` was weighed against this and not taken: it re-implements
torch's DataLoader iterators on torch's private ``_utils`` modules, and it fast-forwards its sampler when the
iterator is built, which Lightning does before ``set_epoch``, so a resume in any epoch after the first
replays the first epoch's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


class SeededFetch(Dataset):
    """``dataset`` whose batches draw their random numbers (augmentation, noise) from their own seed: a batch index
    list with a ``seed`` (``datamodules.samplers.SeededBatch``) is read with torch's global CPU generator seeded
    by it, and the generator's state is put back afterwards. The draws are then a function of the training seed,
    the epoch and the batch's position only: the same after a restart (the checkpoint's RNG state is restored
    only once the first batch has been read) and with any number of workers."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.seeded = draws_at_read(dataset)  # a set that draws nothing is read as it is (no cost per batch)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]

    def __getitems__(self, indices: list[int]) -> Any:
        seed = getattr(indices, "seed", None) if self.seeded else None
        if seed is None:
            return self._read(indices)
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(seed)
        try:
            return self._read(indices)
        finally:
            generator.set_state(state)  # the model's random numbers (dropout) go on as if nothing was drawn

    def _read(self, indices: list[int]) -> Any:
        read = getattr(self.dataset, "__getitems__", None)
        return read(list(indices)) if read is not None else [self.dataset[i] for i in indices]


def draws_at_read(dataset: Dataset) -> bool:
    """Whether reading ``dataset`` draws random numbers: its ``random_reads`` where it says, else whether it
    has a ``transform`` / ``augment`` / ``batch_transform`` (augmentation)."""
    declared = getattr(dataset, "random_reads", None)
    if declared is not None:
        return bool(declared)
    return any(getattr(dataset, a, None) is not None for a in ("transform", "augment", "batch_transform"))


def is_stateful(obj: Any) -> bool:
    """Whether ``obj`` has ``state_dict()`` and ``load_state_dict()`` (what Lightning checks, too)."""
    return callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))


class ResumableLoader(DataLoader):
    """A DataLoader over a stateful batch sampler with ``state_dict()`` / ``load_state_dict()``:
    ``{"batch_sampler": {"epoch", "batches_yielded", ...}}``, where ``batches_yielded`` counts the batches of
    that epoch this loader handed to the training loop (not the index lists its workers read ahead).

    Pass ``batch_sampler=``: a batch sampler with ``set_epoch`` (Lightning calls it on
    ``batch_sampler.sampler`` at each epoch start) and ``state_dict`` / ``load_state_dict`` that skips, on its
    next pass over the saved epoch, the batches already trained on (index lists only, no data is read); a
    pass over another epoch (the checkpoint was written at an epoch's end) starts at its first batch.

    The DataLoader's iterator is built at the first ``next()``, not at ``iter()``: Lightning calls ``iter()``
    before it sets the epoch, and with workers the index stream is read ahead as soon as the iterator exists.
    The workers' base seed comes from the loader's own generator, not from the global RNG, so building an
    iterator does not shift the random numbers the model draws (dropout) after a restart.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("generator") is None:
            kwargs["generator"] = torch.Generator().manual_seed(torch.initial_seed())
        super().__init__(*args, **kwargs)
        if not is_stateful(self.batch_sampler):
            raise TypeError(
                f"ResumableLoader needs a batch_sampler with state_dict/load_state_dict (got "
                f"{type(self.batch_sampler).__name__}); use datamodules.samplers.ShuffledBatches"
            )
        self._position: dict[str, Any] | None = None  # the current pass: epoch and batches handed out
        self._restored: dict[str, Any] | None = None  # a loaded position not yet continued

    def __iter__(self) -> Iterator:
        return self._pass()

    def _pass(self) -> Iterator:
        restored, self._restored = self._restored, None
        inner = super().__iter__()
        counted = False
        for batch in inner:
            if not counted:  # the sampler has started this pass: its epoch is the pass's epoch
                state = dict(self.batch_sampler.state_dict())
                same = restored is not None and int(restored["epoch"]) == int(state["epoch"])
                state["batches_yielded"] = int(restored["batches_yielded"]) if same else 0
                self._position, counted = state, True
            self._position["batches_yielded"] += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """``{"batch_sampler": {"epoch", "batches_yielded", ...}}`` of the pass in progress (or the last one)."""
        if self._restored is not None:  # restored but not iterated yet: hand the restored position on
            return {"batch_sampler": dict(self._restored)}
        if self._position is not None:
            return {"batch_sampler": dict(self._position)}
        return {"batch_sampler": self.batch_sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue at ``state``; also takes the ``{"epoch", "batches"}`` form older checkpoints hold."""
        inner = state.get("batch_sampler")
        if inner is None:
            inner = {"epoch": state.get("epoch") or 0, "batches_yielded": int(state.get("batches", 0))}
        self._restored = dict(inner)
        self.batch_sampler.load_state_dict(self._restored)
