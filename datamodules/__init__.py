"""LightningDataModules, one per data family. Batches are dicts of named tensors."""

from importlib import import_module
from typing import Any

# Lazy index: ``datamodules.X`` imports only the file that defines X (PEP 562), so importing one
# member never loads the others' dependencies.
_EXPORTS = {
    "CIFAR10DataModule": "datamodules.cifar10",
    "EqualChunks": "datamodules.samplers",
    "ImageFolderDataModule": "datamodules.image_folder",
    "LabDataModule": "datamodules.base",
    "MNISTDataModule": "datamodules.mnist",
    "NoisyMNISTDataModule": "datamodules.noisy_mnist",
    "SegmentationFolderDataModule": "datamodules.segmentation",
    "TextClassificationDataModule": "datamodules.text_classification",
    "UnpairedImageDataModule": "datamodules.unpaired",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
