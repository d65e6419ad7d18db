"""A training DataLoader whose order and position survive a restart: exact mid-epoch resume.

Lightning 2.6 saves ``state_dict()`` of every training loader that has one in each checkpoint (the fit
loop's ``combined_loader`` entry) and calls ``load_state_dict()`` on ``--ckpt_path`` before it iterates
again. Its fetcher does not prefetch loaders with a length, so the batches this loader has handed out
are exactly the batches trained on when a checkpoint is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def seeded_shuffle(dataset: Dataset) -> DistributedSampler:
    """The training order: a permutation drawn from ``(seed, epoch)`` only, never from the global RNG,
    so it is the same after a restart. The seed is torch's initial seed (what ``seed_everything`` set,
    the same on every rank and again in a resumed run). A ``DistributedSampler`` so that Lightning keeps
    it under DDP (it shards by rank itself) and calls ``set_epoch`` at every epoch start."""
    world, rank = (dist.get_world_size(), dist.get_rank()) if dist.is_available() and dist.is_initialized() else (1, 0)
    return DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=torch.initial_seed())


class ResumableLoader(DataLoader):
    """A DataLoader with ``state_dict()`` / ``load_state_dict()``: ``{"epoch", "batches"}`` (batches of that
    epoch already handed out), or the batch sampler's own state where it has one (it then resumes itself).

    The order must follow the epoch: a sampler with ``set_epoch`` (Lightning calls it at each epoch start)
    or a stateful batch sampler. After ``load_state_dict`` the next pass over the *saved* epoch skips the
    batches already trained on (index lists only, no data is read); a pass over another epoch (the
    checkpoint was written at an epoch's end) starts at its first batch. Exact with ``num_workers=0``;
    with workers the index stream is read ahead when the iterator is built, before Lightning sets the
    epoch, so the skip only applies when the saved epoch is the sampler's epoch at that time.

    The loader draws its workers' base seed from its own generator, not from the global RNG, so
    building an iterator does not shift the random numbers the model draws (dropout) after a restart.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("generator") is None:
            kwargs["generator"] = torch.Generator().manual_seed(torch.initial_seed())
        super().__init__(*args, **kwargs)
        self._epoch: int | None = None
        self._batches = 0
        self._resume: tuple[int | None, int] | None = None

    def _stateful_batch_sampler(self) -> Any:
        bs = self.batch_sampler
        stateful = callable(getattr(bs, "state_dict", None)) and callable(getattr(bs, "load_state_dict", None))
        return bs if stateful else None

    @property
    def _index_sampler(self) -> Iterable:  # what DataLoader iterators draw index lists from
        return _Positioned(super()._index_sampler, self)

    def __iter__(self) -> Iterator:
        inner = super().__iter__()
        return self._count(inner)

    def _count(self, inner: Iterator) -> Iterator:
        for batch in inner:
            self._batches += 1
            yield batch

    def _start_pass(self) -> int:
        """Called when a pass over the index lists starts: the epoch it serves and how many batches to skip."""
        epoch = getattr(self.sampler, "epoch", None)
        skip = 0
        if self._resume is not None and self._stateful_batch_sampler() is None:
            saved_epoch, saved_batches = self._resume
            skip = saved_batches if saved_epoch == epoch else 0
        self._resume = None
        self._epoch, self._batches = epoch, skip
        return skip

    def state_dict(self) -> dict[str, Any]:
        stateful = self._stateful_batch_sampler()
        if stateful is not None:
            return {"batch_sampler": stateful.state_dict()}
        return {"epoch": self._epoch, "batches": self._batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        stateful = self._stateful_batch_sampler()
        if stateful is not None and "batch_sampler" in state:
            stateful.load_state_dict(state["batch_sampler"])
            return
        self._resume = (state.get("epoch"), int(state.get("batches", 0)))


class _Positioned:
    """The loader's index sampler, skipping the batches a restored loader has already handed out."""

    def __init__(self, base: Iterable, loader: ResumableLoader) -> None:
        self.base, self.loader = base, loader

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator:
        skip = self.loader._start_pass()  # lazily: at the first index list, after Lightning's set_epoch
        it = iter(self.base)
        for _ in range(skip):
            next(it, None)
        yield from it
