"""MNIST with Gaussian noise for the denoising autoencoder (see docs/generative.md)."""

from __future__ import annotations

from torch import Tensor

from datamodules.mnist import MNISTDataModule
from datamodules.noise import GaussianNoise, NoisyDataset

# Fixed noise per evaluation split: every run sees the same noisy val / test / predict images.
_NOISE_OFFSET = {"val": 0, "test": 1, "predict": 2}


class NoisyMNISTDataModule(MNISTDataModule):
    """MNIST in [0, 1] (no standardisation) with ``noisy = clamp(image + sigma * N(0, 1), 0, 1)``.

    Batches: ``{"noisy", "image" (the clean target), "label"}``. Training noise is drawn fresh at
    every access (the report drew it once and reused it every epoch); validation and test noise is
    one draw from ``noise_seed`` (test uses ``noise_seed + 1``, predict inputs ``noise_seed + 2``),
    the same in every run. All other arguments as MNISTDataModule.
    """

    def __init__(self, *args, sigma: float = 0.5, noise_seed: int = 1234, normalize: bool = False, **kwargs) -> None:
        super().__init__(*args, normalize=normalize, **kwargs)
        self.sigma, self.noise_seed = sigma, noise_seed

    def _dataset(self, split: str, images: Tensor, labels: Tensor | None) -> NoisyDataset:
        base = super()._dataset(split, images, labels)
        seed = None if split == "train" else self.noise_seed + _NOISE_OFFSET[split]
        return NoisyDataset(base, GaussianNoise(self.sigma, (0.0, 1.0)), seed=seed)
