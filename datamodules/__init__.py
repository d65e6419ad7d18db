"""LightningDataModules, one per data family. Batches are dicts of named tensors."""

from datamodules.cifar10 import CIFAR10DataModule
from datamodules.errors import DataSourceError, LabError
from datamodules.image_folder import ImageFolderDataModule
from datamodules.mnist import MNISTDataModule

__all__ = ["MNISTDataModule", "CIFAR10DataModule", "ImageFolderDataModule", "DataSourceError", "LabError"]

from datamodules.text_classification import TextClassificationDataModule  # noqa: E402

__all__ += ["TextClassificationDataModule"]
