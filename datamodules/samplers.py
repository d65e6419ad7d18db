"""Batch samplers that shard themselves across DDP ranks and resume mid-epoch.

How they get their rank: Lightning injects a ``DistributedSampler`` into every train/val/test
loader under DDP (``use_distributed_sampler=True``, the default). For a batch sampler it does so
by re-creating it with ``sampler=<the DistributedSampler>``, which works for ``BatchSampler``
subclasses that take a ``sampler`` argument (Lightning records the constructor arguments). Our
samplers take that argument, read only ``num_replicas``, ``rank`` and ``total_size`` from it and
keep their own order (bucketing, full-batch chunks): so a batch sampler is sharded exactly where
Lightning would shard a plain ``DataLoader``, and not otherwise (``use_distributed_sampler=False``
leaves every rank the whole set, as for plain loaders). Lightning's per-epoch ``set_epoch`` reaches
the injected sampler (``batch_sampler.sampler``); ours read their epoch from there.

Sharding follows ``DistributedSampler``: the epoch's index order (identical on every rank, from
``(seed, epoch)``) is padded by repeating its first indices up to ``total_size`` (a multiple of the
world size), and rank ``r`` takes every ``world``-th index from ``r``. Every rank then gets the same
number of examples, hence the same number of batches (DDP needs that); at most ``world - 1``
examples are seen twice per epoch, which is why 2-process metrics equal 1-process ones exactly only
where the split divides evenly.

Resuming: ``state_dict()`` is ``{"epoch", "batches_yielded", "num_replicas"}`` for the epoch being
iterated; after ``load_state_dict`` the next iteration over that epoch skips the batches already
yielded. A ``DataLoader`` with workers asks its sampler ahead of what the training loop consumed, so
``datamodules.resumable.ResumableLoader`` stores the number of batches it handed to the loop instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler

from labcore.errors import LabError


class SeededBatch(list):
    """One batch's index list, carrying ``seed``: the seed of the random numbers its examples draw when they are
    read (augmentation, noise; ``datamodules.resumable.SeededFetch``), fixed by the training seed, the epoch, the
    rank and the batch's position in the epoch. A batch then draws the same numbers whether or not the run was
    restarted before it, and however many workers read it."""

    seed: int = 0

    def __init__(self, indices: Sequence[int], seed: int) -> None:
        super().__init__(indices)
        self.seed = seed


_MASK = (1 << 64) - 1


def batch_seed(*keys: int) -> int:
    """A 64-bit seed mixed from ``keys`` (multiply-xorshift rounds: nearby keys give unrelated seeds; a few
    integer operations, as it runs once per training batch)."""
    h = 0x9E3779B97F4A7C15
    for k in keys:
        h = ((h ^ (int(k) & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 31)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 29
    return h


class _WholeSet:
    """What a sharding sampler holds as ``sampler`` outside DDP: one replica, and the epoch (set_epoch)."""

    num_replicas = 1
    rank = 0

    def __init__(self, n: int) -> None:
        self.total_size = n
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.total_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.total_size))


class ShardedBatchSampler(BatchSampler):
    """Base of the batch samplers here: rank/world from the injected ``sampler``, the epoch, and the
    resumable iteration. Subclasses implement ``_epoch_batches(epoch)``: this rank's batches."""

    def _init_shard(self, n: int, sampler: Sampler | None) -> None:
        # Not BatchSampler.__init__: it would iterate ``sampler`` for indices; ours only carries rank/world/epoch.
        self.n = n
        self.sampler = sampler if sampler is not None else _WholeSet(n)
        self.num_replicas = int(getattr(self.sampler, "num_replicas", 1))
        self.rank = int(getattr(self.sampler, "rank", 0))
        if not hasattr(self.sampler, "epoch"):  # a foreign sampler without set_epoch: keep the epoch ourselves
            self.sampler = _WholeSet(n)
        self._iter_epoch: int | None = None
        self._yielded = 0
        self._resume: tuple[int, int] | None = None
        self.data_seed = torch.initial_seed()  # what seed_everything set: the same on every rank and after a restart

    # --- epoch: lives on ``sampler`` because Lightning calls ``batch_sampler.sampler.set_epoch`` ----------------
    @property
    def epoch(self) -> int:
        return int(self.sampler.epoch)

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Fix the next epoch's order: it depends on ``(seed, epoch)`` only, on every rank."""
        self.sampler.set_epoch(epoch)

    # --- sharding ----------------------------------------------------------------------------------------------
    def _total_size(self) -> int:
        """Examples over all ranks per epoch: the injected sampler's (padded to a multiple of the world size)."""
        total = getattr(self.sampler, "total_size", None)
        if total is None:
            total = -(-self.n // self.num_replicas) * self.num_replicas
        return int(total)

    def _shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's part of ``order`` (the same order on every rank), padded or cut like DistributedSampler."""
        if self.num_replicas == 1:
            return order
        total = self._total_size()
        if total > len(order) and len(order):
            order = np.resize(order, total)  # repeats from the start, as DistributedSampler pads
        return order[self.rank : total : self.num_replicas]

    # --- iteration and resume ------------------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        self.epoch = epoch + 1  # iterating again without set_epoch gives the next epoch's order
        skip = 0
        if self._resume is not None:
            resume_epoch, resume_skip = self._resume
            self._resume = None
            skip = resume_skip if resume_epoch == epoch else 0
        batches = self._epoch_batches(epoch)
        self._iter_epoch, self._yielded = epoch, skip
        for position in range(skip, len(batches)):
            self._yielded += 1
            yield SeededBatch(batches[position], batch_seed(self.data_seed, epoch, self.rank, position))

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches_yielded", "num_replicas"}``: where the current (or next) epoch stands."""
        if self._resume is not None:  # restored but not iterated yet: hand the restored position on
            epoch, done = self._resume
        elif self._iter_epoch is None:
            epoch, done = self.epoch, 0
        else:
            epoch, done = self._iter_epoch, self._yielded
        return {"epoch": epoch, "batches_yielded": done, "num_replicas": self.num_replicas}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue at ``state``: the next iteration over ``state["epoch"]`` starts after its yielded batches."""
        epoch, done = int(state["epoch"]), int(state["batches_yielded"])
        self.epoch = epoch
        self._resume = (epoch, done)


class EqualChunks(ShardedBatchSampler):
    """The whole training set as ``chunks`` equal, consecutive index chunks per epoch (per rank).

    With ``trainer.accumulate_grad_batches == chunks`` one optimizer step sees every example
    once, and Lightning's ``loss / chunks`` on mean-reduced chunk losses sums to the exact
    full-batch mean gradient: ``sum_i mean_i / k == mean`` only when all chunks have the same
    size, hence the divisibility check. Under DDP each of the ``world`` ranks takes ``n / world``
    examples (no padding, which would weight some examples twice) and DDP's gradient average over
    equal shards is again the full-batch mean: ``n`` must divide into ``world * chunks``. (Exact for
    nets whose forward does not depend on the batch composition, i.e. without BatchNorm in train mode.)
    """

    def __init__(self, n: int, chunks: int = 1, sampler: Sampler | None = None) -> None:
        self._init_shard(n, sampler)
        parts = chunks * self.num_replicas
        if chunks < 1 or n % parts:
            world = self.num_replicas
            divisors = [d for d in range(1, min(n, 64) + 1) if n % (d * world) == 0]
            where = f" on each of {world} processes" if world > 1 else ""
            fix = f"--trainer.accumulate_grad_batches to one of {divisors[-4:]} or " if divisors else ""
            raise LabError(
                f"full batch: {n} training examples do not split into {max(chunks, 0)} equal chunks{where}; set "
                f"{fix}--data.init_args.max_train_samples to a multiple of {max(parts, world)}"
            )
        self.chunks = chunks
        self.size = n // parts

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        mine = self._shard(np.arange(self.n))
        return [mine[i : i + self.size].tolist() for i in range(0, len(mine), self.size)]

    def _total_size(self) -> int:
        return self.n  # n divides evenly (checked): no padding

    def __len__(self) -> int:
        return self.chunks


class ShuffledBatches(ShardedBatchSampler):
    """Shuffled batches of ``batch_size``: the order ``DistributedSampler(shuffle=True, seed=seed)`` draws
    for an epoch (``randperm`` seeded with ``seed + epoch``, padded and sharded the same way), cut into
    consecutive batches, the last one short (or dropped with ``drop_last``). The order depends on
    ``(seed, epoch)`` only, never on the global RNG, so it is the same after a restart."""

    def __init__(
        self, n: int, batch_size: int, seed: int = 0, drop_last: bool = False, sampler: Sampler | None = None
    ) -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.drop_last = drop_last
        self._init_shard(n, sampler)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        g = torch.Generator()
        g.manual_seed(self.seed + epoch)  # DistributedSampler's seeding, so the order is the one it gave
        return batches_of(self._shard(torch.randperm(self.n, generator=g).numpy()), self.batch_size, self.drop_last)

    def __len__(self) -> int:
        n = self._total_size() // self.num_replicas
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class WeightedBatches(ShardedBatchSampler):
    """Batches of ``n`` indices drawn per epoch with replacement, example ``i`` with probability proportional to
    ``weights[i]`` (a ``WeightedRandomSampler`` whose draws are resumable). Each epoch's draws come from a
    generator seeded by ``(seed, epoch)``: epoch 3 draws the same indices whether or not the run was restarted
    before it. Under DDP the draws (the same on every rank) are sharded like the other samplers here."""

    def __init__(
        self, weights: Sequence[float] | torch.Tensor, batch_size: int, seed: int = 0, sampler: Sampler | None = None
    ) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        self.batch_size = batch_size
        self.seed = seed
        self._init_shard(len(self.weights), sampler)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        g = torch.Generator()
        g.manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1, dtype=np.uint64)[0]))
        draws = torch.multinomial(self.weights, self.n, replacement=True, generator=g).numpy()
        return batches_of(self._shard(draws), self.batch_size, drop_last=False)

    def __len__(self) -> int:
        return -(-(self._total_size() // self.num_replicas) // self.batch_size)


def batches_of(order: Sequence[int] | np.ndarray, batch_size: int, drop_last: bool) -> list[list[int]]:
    """Consecutive batches of ``order``; the last one dropped when short and ``drop_last``."""
    order = np.asarray(order)
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches
