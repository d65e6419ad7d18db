"""MNIST with Gaussian noise for the denoising autoencoder (R2-L23)."""

from __future__ import annotations

from datamodules.mnist import MNISTDataModule
from datamodules.noise import GaussianNoise, NoisyDataset


class NoisyMNISTDataModule(MNISTDataModule):
    """MNIST in [0, 1] (no standardisation) with ``noisy = clamp(image + sigma * N(0, 1), 0, 1)``.

    Batches: ``{"noisy", "image" (the clean target), "label"}``. Training noise is drawn fresh at
    every access (the report drew it once and reused it every epoch); validation and test noise is
    one draw from ``noise_seed`` (test uses ``noise_seed + 1``), the same in every run.
    All other arguments as MNISTDataModule.
    """

    def __init__(self, *args, sigma: float = 0.5, noise_seed: int = 1234, normalize: bool = False, **kwargs) -> None:
        super().__init__(*args, normalize=normalize, **kwargs)
        self.sigma, self.noise_seed = sigma, noise_seed

    def setup(self, stage: str | None = None) -> None:
        if self.datasets and isinstance(self.datasets.get("train"), NoisyDataset):
            return
        super().setup(stage)
        noise = GaussianNoise(self.sigma, (0.0, 1.0))
        self.datasets = {
            "train": NoisyDataset(self.datasets["train"], noise, seed=None),
            "val": NoisyDataset(self.datasets["val"], noise, seed=self.noise_seed),
            "test": NoisyDataset(self.datasets["test"], noise, seed=self.noise_seed + 1),
        }
