"""LightningDataModules, one per data family. Batches are dicts of named tensors."""

from labcore.lazy import lazy_index

# Lazy index: ``datamodules.X`` imports only the file that defines X (PEP 562), so importing one
# member never loads the others' dependencies.
_EXPORTS = {
    "CIFAR10DataModule": "datamodules.cifar10",
    "DetectionDataModule": "datamodules.detection",
    "EqualChunks": "datamodules.samplers",
    "ImageFolderDataModule": "datamodules.image_folder",
    "LabDataModule": "datamodules.base",
    "MNISTDataModule": "datamodules.mnist",
    "NoisyMNISTDataModule": "datamodules.noisy_mnist",
    "SegmentationFolderDataModule": "datamodules.segmentation",
    "TabularDataModule": "datamodules.tabular",
    "TextClassificationDataModule": "datamodules.text_classification",
    "TimeSeriesDataModule": "datamodules.timeseries",
    "TranslationDataModule": "datamodules.translation",
    "UnpairedImageDataModule": "datamodules.unpaired",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_index(__name__, _EXPORTS)
