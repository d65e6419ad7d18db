"""The four dataloader hooks of a datamodule whose splits live in ``self.datasets``."""

from __future__ import annotations

from torch.utils.data import DataLoader


class SplitLoaders:
    """Mixin: train/val/test loaders from ``self._loader(split)``; ``predict`` reads the test split."""

    def _loader(self, split: str) -> DataLoader:
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")
