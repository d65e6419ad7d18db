"""Dynamic padding and length bucketing for encoded texts.

A batch is ``{"input_ids": N x L, "attention_mask": N x L, "lengths": N, "label": N}`` with
``L`` the longest text *in the batch*; bucketing groups texts of similar length so little
padding is computed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from datamodules.samplers import ShardedBatchSampler, batches_of


class EncodedTextDataset(Dataset):
    """Id arrays (and labels); ``__getitems__`` pads a whole batch at once."""

    def __init__(self, ids: list[np.ndarray], labels: np.ndarray | None, pad_index: int) -> None:
        self.ids = ids
        self.labels = labels
        self.pad_index = pad_index
        self.lengths = np.array([len(x) for x in ids], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([i]).items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        lengths = self.lengths[indices]
        out = np.full((len(indices), int(lengths.max())), self.pad_index, dtype=np.int64)
        for row, i in enumerate(indices):
            out[row, : lengths[row]] = self.ids[i]
        batch = {
            "input_ids": torch.from_numpy(out),
            "attention_mask": torch.from_numpy(np.arange(out.shape[1])[None, :] < lengths[:, None]).long(),
            "lengths": torch.from_numpy(lengths),
        }
        if self.labels is not None:
            batch["label"] = torch.from_numpy(self.labels[indices].astype(np.int64))
        return batch


class BucketBatchSampler(ShardedBatchSampler):
    """Batches of similar length.

    Training (``shuffle``): shuffle, cut into pools of ``pool_batches`` batches, sort each pool
    by length, batch it, then shuffle the batches (a new order every epoch, seeded). Evaluation:
    sorted by length. ``seed`` and ``epoch`` (``set_epoch``; set it when resuming) fix the order.
    ``bucket=False`` gives plain (shuffled or ordered) batches, e.g. for ``predict``, where the output
    order must be the input order.

    Under DDP (``sampler``: the ``DistributedSampler`` Lightning injects) the shuffled order, the same
    on every rank, is sharded first (padded to equal shares, see ``datamodules.samplers``), then each
    rank buckets its own share: every rank yields ``len(self)`` batches. Resumable mid-epoch
    (``state_dict`` / ``load_state_dict``).
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        shuffle: bool,
        bucket: bool = True,
        seed: int = 0,
        pool_batches: int = 50,
        drop_last: bool = False,
        sampler: Sampler | None = None,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.seed = seed
        self.pool_batches = pool_batches
        self.drop_last = drop_last
        self._init_shard(len(self.lengths), sampler)

    def __len__(self) -> int:
        n = len(self._shard(np.arange(len(self.lengths))))
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, epoch])  # (seed, epoch) pairs never collide, unlike seed + epoch
        order = self._shard(rng.permutation(n) if self.shuffle else np.arange(n))
        if self.bucket:
            m = len(order)
            if self.shuffle:
                pool = self.batch_size * self.pool_batches
                if m:
                    pools = np.split(order, range(pool, m, pool))
                    order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pools])
            else:  # this rank's share, sorted (outside DDP: the whole set sorted, as before sharding existed)
                order = order[np.argsort(self.lengths[order], kind="stable")]
        batches = batches_of(order, self.batch_size, self.drop_last)
        if self.shuffle and self.bucket:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches
