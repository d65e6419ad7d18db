"""Dynamic padding and length bucketing for encoded texts.

A batch is ``{"input_ids": N x L, "attention_mask": N x L, "lengths": N, "label": N}`` with
``L`` the longest text *in the batch*; bucketing groups texts of similar length so little
padding is computed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


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


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length.

    Training (``shuffle``): shuffle, cut into pools of ``pool_batches`` batches, sort each pool
    by length, batch it, then shuffle the batches (a new order every epoch, seeded). Evaluation:
    sorted by length. ``seed`` and ``epoch`` (set it when resuming) fix the order. ``bucket=False``
    gives plain (shuffled or ordered) batches, e.g. for ``predict``, where the output order must be
    the input order.
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
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.seed = seed
        self.pool_batches = pool_batches
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])  # (seed, epoch) pairs never collide, unlike seed + epoch
        self.epoch += 1
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.bucket:
            if self.shuffle:
                pool = self.batch_size * self.pool_batches
                order = (
                    np.concatenate(
                        [p[np.argsort(self.lengths[p], kind="stable")] for p in np.split(order, range(pool, n, pool))]
                    )
                    if n
                    else order
                )
            else:
                order = np.argsort(self.lengths, kind="stable")
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and self.bucket:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return iter(batches)
