"""CIFAR-10 from torchvision's pickles, a JPEG/PNG class-folder tree (or a tar of one), or the embedded sample."""

from __future__ import annotations

from pathlib import Path

from datamodules.base import EMBEDDED_DIR
from datamodules.image_classification import ImageClassificationDataModule
from datamodules.readers import read_cifar_pickles, read_image_tree

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class CIFAR10DataModule(ImageClassificationDataModule):
    """CIFAR-10, 3 x 32 x 32. ``path`` may be torchvision's ``cifar-10-batches-py`` folder,
    a ``[train|test/]<class>/*.jpg`` tree, or a ``.tar.gz`` of such a tree (as in
    ``../shared/data/cifar10_jpg_subset``). Without a test split, ``test_fraction`` of the
    images are held out (seeded by ``split_seed``)."""

    name = "cifar10"
    host = "www.cs.toronto.edu"
    how_to_get = (
        "pass --data.init_args.path with torchvision's cifar-10-batches-py folder or a class-folder "
        "tree/tarball (e.g. ../shared/data/cifar10_jpg_subset/cifar10_train_first1000perclass.tar.gz)"
    )
    published_mean = (0.4914, 0.4822, 0.4465)
    published_std = (0.2470, 0.2435, 0.2616)
    default_class_names = CIFAR10_CLASSES

    @property
    def default_input_shape(self) -> list[int]:
        return [3, 32, 32]

    def _read(self, source: str, location: Path | None) -> dict[str, dict]:
        if source == "embedded":
            return read_image_tree(EMBEDDED_DIR / "cifar10_sample.tar.gz")
        if location.is_dir() and any(location.rglob("data_batch_*")):
            return read_cifar_pickles(location)
        return read_image_tree(location)

    def _full_copy(self) -> Path | None:
        folder = self.data_dir / "cifar-10-batches-py"
        return folder if (folder / "data_batch_1").exists() else None

    def download(self) -> Path:
        from torchvision.datasets import CIFAR10

        CIFAR10(str(self.data_dir), train=True, download=True)
        return self.data_dir / "cifar-10-batches-py"
