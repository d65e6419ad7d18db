"""MNIST from IDX files: the embedded sample, ``../shared/data/mnist``-style folders, or a download."""

from __future__ import annotations

from pathlib import Path

from datamodules.base import EMBEDDED_DIR
from datamodules.image_classification import ImageClassificationDataModule
from datamodules.readers import find_file, read_idx
from labcore.errors import DataSourceError

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class MNISTDataModule(ImageClassificationDataModule):
    """MNIST digits, 1 x 28 x 28. ``path``: a folder holding the four IDX files (``.gz`` or
    not; torchvision's ``MNIST/raw`` layout works too). Validation is carved from the 60k
    training images with ``split_seed``; test is the official 10k."""

    name = "mnist"
    host = "ossci-datasets.s3.amazonaws.com"
    how_to_get = "pass --data.init_args.path DIR with the four MNIST IDX files (e.g. ../shared/data/mnist)"
    published_mean = (0.1307,)
    published_std = (0.3081,)
    default_class_names = [str(d) for d in range(10)]

    @property
    def default_input_shape(self) -> list[int]:
        return [1, 28, 28]

    def _read(self, source: str, location: Path | None) -> dict[str, dict]:
        folder = EMBEDDED_DIR / "mnist" if source == "embedded" else location
        out = {}
        for split, (img_stem, lbl_stem) in _FILES.items():
            img, lbl = find_file(folder, img_stem), find_file(folder, lbl_stem)
            if img is None or lbl is None:
                raise DataSourceError(
                    f"mnist: {img_stem}[.gz] / {lbl_stem}[.gz] not found under {folder}; {self.how_to_get}"
                )
            images, labels = read_idx(img), read_idx(lbl)
            if len(images) != len(labels):
                raise DataSourceError(
                    f"mnist: {img} has {len(images)} images but {lbl} {len(labels)} labels; pass matching files"
                )
            bad = sorted({int(v) for v in labels.unique() if int(v) > 9})
            if bad:
                raise DataSourceError(
                    f"mnist: {lbl} holds labels {bad[:5]} outside 0-9 (digits); pass MNIST's own label files"
                )
            out[split] = {"images": images.unsqueeze(1), "labels": labels.long()}
        return out

    def _full_copy(self) -> Path | None:
        folder = self.data_dir / "MNIST"
        ok = folder.exists() and all(find_file(folder, stem) for pair in _FILES.values() for stem in pair)
        return folder if ok else None

    def download(self) -> Path:
        from torchvision.datasets import MNIST

        MNIST(str(self.data_dir), train=True, download=True)
        MNIST(str(self.data_dir), train=False, download=True)
        return self.data_dir / "MNIST"
