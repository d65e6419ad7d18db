"""Sliding windows over one split of a series: ``lookback`` input steps -> ``horizon`` target steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


class SeriesWindows(Dataset):
    """Windows over ONE split (so none crosses a split boundary), batched by fancy indexing.

    Items: ``window`` (lookback x F scaled inputs), ``y`` (horizon * K scaled targets, step-major:
    ``y[h * K + k]``), ``naive`` (the last input step's target values repeated over the horizon:
    the naive last-value forecast, scaled like ``y``) and ``start`` (the window's first row in the
    split). A window is kept only if its inputs and its targets are all present. Batches are cut on the
    device the tensors live on (``datamodules.device_batches``).
    """

    device_batches: ClassVar[bool] = True

    def __init__(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        last_known: np.ndarray,
        lookback: int,
        horizon: int,
        offset: int = 0,
    ) -> None:
        self.inputs = torch.as_tensor(inputs, dtype=torch.float32)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.last_known = torch.as_tensor(last_known, dtype=torch.float32)
        self.lookback, self.horizon, self.offset = lookback, horizon, offset
        n = len(self.inputs) - lookback - horizon + 1
        starts = torch.arange(max(n, 0))
        self.possible = len(starts)
        if len(starts):
            ok = torch.isfinite(self.inputs[self._steps(starts, 0, lookback)]).flatten(1).all(1)
            ok &= torch.isfinite(self.targets[self._steps(starts, lookback, horizon)]).flatten(1).all(1)
            ok &= torch.isfinite(self.last_known[starts + lookback - 1]).all(1)
            starts = starts[ok]
        self.starts = starts

    @staticmethod
    def _steps(starts: Tensor, begin: int, length: int) -> Tensor:
        return starts[:, None] + begin + torch.arange(length, device=starts.device)[None, :]

    @property
    def dropped(self) -> int:
        """Windows skipped because a value in them is missing."""
        return self.possible - len(self.starts)

    def __len__(self) -> int:
        return len(self.starts)

    def target_rows(self) -> Tensor:
        """Row (within the split, plus ``offset``) of each window's first target step."""
        return self.starts + self.lookback + self.offset

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Tensor]:
        s = self.starts[torch.as_tensor(indices, dtype=torch.long, device=self.starts.device)]
        n = len(s)
        y = self.targets[self._steps(s, self.lookback, self.horizon)].reshape(n, -1)
        naive = self.last_known[s + self.lookback - 1].repeat(1, self.horizon)
        return {"window": self.inputs[self._steps(s, 0, self.lookback)], "y": y, "naive": naive, "start": s}

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([i]).items()}
