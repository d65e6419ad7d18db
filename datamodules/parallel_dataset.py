"""Encoded sentence pairs, padded a whole batch at a time.

A batch is ``{"src_ids": N x S, "src_mask": N x S (1 = token), "src_lengths": N, "tgt_ids": N x T
(<bos> ... <eos>), "tgt_lengths": N}`` plus the raw ``source_text`` / ``target_text`` lists (the
normalised sentences the samples table shows and BLEU scores against). Predict batches have no
``tgt_*`` and no ``target_text``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.seq2seq_vocab import PAD_ID


def pad(ids: list[np.ndarray], indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ids N x L, mask N x L, lengths N)`` for ``ids[indices]``, padded with ``<pad>``."""
    lengths = np.array([len(ids[i]) for i in indices], dtype=np.int64)
    out = np.full((len(indices), int(lengths.max()) if len(indices) else 0), PAD_ID, dtype=np.int64)
    for row, i in enumerate(indices):
        out[row, : lengths[row]] = ids[i]
    mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
    return torch.from_numpy(out), torch.from_numpy(mask).long(), torch.from_numpy(lengths)


class PairDataset(Dataset):
    """Source id arrays, optional target id arrays (with ``<bos>`` / ``<eos>``) and their texts."""

    def __init__(
        self,
        src: list[np.ndarray],
        tgt: list[np.ndarray] | None,
        source_text: list[str],
        target_text: list[str] | None,
    ) -> None:
        self.src, self.tgt = src, tgt
        self.source_text, self.target_text = source_text, target_text
        src_len = np.array([len(x) for x in src], dtype=np.int64)
        # bucket on the longer side: both sides are padded to their batch's longest
        self.lengths = src_len if tgt is None else np.maximum(src_len, [len(x) for x in tgt])

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> dict:
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> dict:
        indices = list(indices)
        src_ids, src_mask, src_lengths = pad(self.src, indices)
        batch: dict = {"src_ids": src_ids, "src_mask": src_mask, "src_lengths": src_lengths}
        batch["source_text"] = [self.source_text[i] for i in indices]
        if self.tgt is not None:
            batch["tgt_ids"], _, batch["tgt_lengths"] = pad(self.tgt, indices)
            batch["target_text"] = [self.target_text[i] for i in indices]
        return batch
