"""Gaussian corruption of image datasets for denoising: fresh noise at every access (training),
or one fixed seeded draw (validation / test), so every epoch sees new noise and every evaluation
the same noisy images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset


class GaussianNoise:
    """``clamp(x + sigma * N(0, 1), lo, hi)`` on images in [0, 1]; ``generator`` makes it reproducible."""

    def __init__(self, sigma: float = 0.5, clamp: tuple[float, float] | None = (0.0, 1.0)) -> None:
        self.sigma, self.clamp = sigma, clamp

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        y = x + self.sigma * noise
        return y.clamp(*self.clamp) if self.clamp is not None else y


class NoisyDataset(Dataset):
    """Wraps a dataset of ``{"image": ...}`` dicts and adds ``"noisy"``.

    ``seed=None``: a new draw from the global RNG at every access (seeded once by
    ``seed_everything``, so runs are reproducible but epochs differ). ``seed=int``: the noise of
    the whole set is drawn once from that seed at construction and reused at every access.
    """

    def __init__(self, base: Dataset, noise: GaussianNoise, seed: int | None = None) -> None:
        self.base, self.noise, self.seed = base, noise, seed
        self.fixed: Tensor | None = None
        if seed is not None:
            images = base.__getitems__(list(range(len(base))))["image"]
            self.fixed = noise(images, generator=torch.Generator().manual_seed(seed))

    @property
    def random_reads(self) -> bool:
        """Training noise is drawn as batches are read (``datamodules.resumable.SeededFetch`` seeds it)."""
        return self.fixed is None or bool(getattr(self.base, "transform", None))

    def __len__(self) -> int:
        return len(self.base)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Tensor]:
        item = dict(self.base.__getitems__(list(indices)))
        if self.fixed is not None:
            item["noisy"] = self.fixed[torch.as_tensor(indices, dtype=torch.long)]
        else:
            item["noisy"] = self.noise(item["image"])
        return item

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}
