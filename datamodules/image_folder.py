"""Any ``[train|val|test/]<class>/<image>`` folder tree (or tar of one), e.g. cats vs dogs."""

from __future__ import annotations

from pathlib import Path

from labcore.errors import DataSourceError
from datamodules.image_classification import ImageClassificationDataModule
from datamodules.readers import IMAGE_SUFFIXES, read_image_tree
from datamodules.sources import EMBEDDED_DIR


class ImageFolderDataModule(ImageClassificationDataModule):
    """torchvision-ImageFolder-style data, loaded into memory and resized to ``image_size``.

    Class names are the folder names, sorted, unless ``classes`` picks (and orders) some.
    The embedded source is the CIFAR-10 sample in the same layout, so e.g.
    ``classes: [cat, dog]`` gives a small real two-class task offline.
    """

    name = "image_folder"
    how_to_get = "pass --data.init_args.path DIR laid out as DIR/<class>/<image> (optionally under train/ val/ test/)"
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(self, *args, image_size: int = 32, grayscale: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.image_size = image_size
        self.grayscale = grayscale
        self._found_classes: list[str] | None = None
        if grayscale:
            self.mean, self.std = (0.5,), (0.25,)

    @property
    def default_input_shape(self) -> list[int]:
        return [1 if self.grayscale else 3, self.image_size, self.image_size]

    def _root(self) -> Path:
        source, location = self.resolve()
        return EMBEDDED_DIR / "cifar10_sample.tar.gz" if source == "embedded" else location

    @property
    def class_names(self) -> list[str]:
        if self.classes:
            return list(self.classes)
        if self._found_classes is None:  # scanned once: a gzipped tar is decompressed for every listing
            self._found_classes = self._scan_classes()
        return list(self._found_classes)

    def _scan_classes(self) -> list[str]:
        root = self._root()
        if root.is_dir():
            found = {p.parent.name for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
        else:
            import tarfile

            with tarfile.open(root) as tar:
                found = {Path(n).parent.name for n in tar.getnames() if Path(n).suffix.lower() in IMAGE_SUFFIXES}
        if not found:
            raise DataSourceError(f"image_folder: no images under {root}; {self.how_to_get}")
        return sorted(found)

    def _read(self, source: str, location: Path | None) -> dict[str, dict]:
        return read_image_tree(self._root(), mode="L" if self.grayscale else "RGB", size=self.image_size)
