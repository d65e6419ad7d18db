"""In-memory datasets that hand out whole batches as dicts of named tensors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor
from torch.utils.data import Dataset


def dict_collate(batch):
    """Collate for datasets with ``__getitems__``: the batch is already one dict of tensors."""
    if isinstance(batch, dict):
        return batch
    return torch.utils.data.default_collate(batch)


class ImageTensorDataset(Dataset):
    """uint8 ``N x C x H x W`` images and labels (None: unlabelled, e.g. predict inputs) held in memory.

    Without a per-sample transform the normalised float images are computed once, and a batch
    is one fancy-index (``__getitems__``), which is what keeps the data path as cheap as a
    hand-written ``TensorDataset`` loop. With a transform (augmentation), each sample is
    transformed on its own, as random crops and flips must be.

    ``batch_transform`` (set on the device copy that ``datamodules.device_batches`` makes for
    ``on_device``) transforms the whole uint8 batch at once instead; the index tensor is built on the
    images' device, so a batch is cut where the data lives.
    """

    device_batches: ClassVar[bool] = True  # datamodules.device_batches may serve it from device memory

    def __init__(
        self,
        images: Tensor,
        labels: Tensor | None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.labels = labels.long() if labels is not None else None
        self.transform = transform
        self.batch_transform: Callable[[Tensor], Tensor] | None = None
        c = images.shape[1]
        self.mean = torch.tensor(mean if mean is not None else [0.0] * c).view(1, c, 1, 1)
        self.std = torch.tensor(std if std is not None else [1.0] * c).view(1, c, 1, 1)
        if transform is None:
            self.images = self._normalise(images)
        else:
            self.images = images

    def _normalise(self, x: Tensor) -> Tensor:
        return (x.float().div_(255.0) - self.mean) / self.std

    def __len__(self) -> int:
        return len(self.images)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.images.device)
        if self.batch_transform is not None:
            images = self._normalise(self.batch_transform(self.images[idx]))
        elif self.transform is None:
            images = self.images[idx]
        else:
            images = self._normalise(torch.stack([self.transform(self.images[i]) for i in idx.tolist()]))
        if self.labels is None:
            return {"image": images}
        return {"image": images, "label": self.labels[idx]}

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        item = self.__getitems__([index])
        return {k: v[0] for k, v in item.items()}
