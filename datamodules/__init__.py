"""LightningDataModules, one per data family. Batches are dicts of named tensors."""

from datamodules.cifar10 import CIFAR10DataModule
from datamodules.errors import DataSourceError, LabError
from datamodules.image_folder import ImageFolderDataModule
from datamodules.mnist import MNISTDataModule
from datamodules.noisy_mnist import NoisyMNISTDataModule
from datamodules.samplers import EqualChunks
from datamodules.segmentation import SegmentationFolderDataModule
from datamodules.text_classification import TextClassificationDataModule
from datamodules.unpaired import UnpairedImageDataModule

__all__ = ["CIFAR10DataModule", "DataSourceError", "EqualChunks", "ImageFolderDataModule", "LabError",
           "MNISTDataModule", "NoisyMNISTDataModule", "SegmentationFolderDataModule",
           "TextClassificationDataModule", "UnpairedImageDataModule"]
