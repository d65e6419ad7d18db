"""Any ``[train|val|test/]<class>/<image>`` folder tree (or tar of one), e.g. cats vs dogs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from datamodules.base import EMBEDDED_DIR
from datamodules.checks import at_least
from datamodules.image_classification import ImageClassificationDataModule
from datamodules.readers import IMAGE_SUFFIXES, is_tar, read_image_tree, tar_images
from labcore.errors import DataSourceError, LabError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageFolderDataModule(ImageClassificationDataModule):
    """torchvision-ImageFolder-style data, loaded into memory and resized to ``image_size``.

    Class names are the folder names, sorted, unless ``classes`` picks (and orders) some.
    Split folders ``train/``, ``val/`` (or ``valid/``, ``validation/``, ``dev/``) and ``test/``
    are used where present; missing ones are carved from the training images.
    The embedded source is the CIFAR-10 sample in the same layout, so e.g.
    ``classes: [cat, dog]`` gives a small real two-class task offline.

    Args:
        image_size: side the images are resized to on load.
        grayscale: read one channel instead of RGB.
        stats: ``fit`` (channel mean/std of the training split, saved with the checkpoint) or
            ``imagenet`` (ImageNet's constants, for nets with ImageNet weights).
        Others: as ``ImageClassificationDataModule``.
    """

    name = "image_folder"
    how_to_get = "pass --data.init_args.path DIR laid out as DIR/<class>/<image> (optionally under train/ val/ test/)"

    def __init__(
        self, *args, image_size: int = 32, grayscale: bool = False, stats: Literal["fit", "imagenet"] = "fit", **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        at_least(self.name, 1, image_size=image_size)
        if stats not in ("fit", "imagenet"):
            raise LabError(f"image_folder: unknown stats {stats!r}; pass --data.init_args.stats fit or imagenet")
        if stats == "imagenet" and grayscale:
            raise LabError(
                "image_folder: stats=imagenet needs RGB images; pass --data.init_args.grayscale false or stats fit"
            )
        self.image_size = image_size
        self.grayscale = grayscale
        if stats == "imagenet":
            self.published_mean, self.published_std = IMAGENET_MEAN, IMAGENET_STD
        self._found_classes: list[str] | None = None

    @property
    def default_input_shape(self) -> list[int]:
        return [1 if self.grayscale else 3, self.image_size, self.image_size]

    def _root(self) -> Path:
        source, location = self.resolve()
        return EMBEDDED_DIR / "cifar10_sample.tar.gz" if source == "embedded" else location

    def known_class_names(self) -> list[str]:
        if self._found_classes is None:  # scanned once: a gzipped tar is decompressed for every listing
            self._found_classes = self._scan_classes()
        return list(self._found_classes)

    def _scan_classes(self) -> list[str]:
        root = self._root()
        if root.is_dir():
            found = {p.parent.name for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
        elif is_tar(root):
            found = {parts[-2] for parts, _ in tar_images(root, read=False) if len(parts) >= 2}
        else:
            raise DataSourceError(f"image_folder: {root} is neither a folder nor a tar archive; {self.how_to_get}")
        if not found:
            raise DataSourceError(f"image_folder: no images under {root}; {self.how_to_get}")
        return sorted(found)

    def _read(self, source: str, location: Path | None) -> dict[str, dict]:
        return read_image_tree(self._root(), mode="L" if self.grayscale else "RGB", size=self.image_size)
