"""Readers for the on-disk formats the image datamodules accept.

All return uint8 ``N x C x H x W`` tensors and int64 labels, so every source ends in the
same in-memory form.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from datamodules.splits import canonical_split
from labcore import log
from labcore.errors import DataSourceError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (MNIST's format), gzipped or not."""
    with _open(path) as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic not in (2049, 2051):
        raise DataSourceError(f"{path} is not an IDX file (magic {magic}); expected MNIST's IDX format")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return torch.from_numpy(arr.copy())


def find_file(folder: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` anywhere below ``folder`` (covers torchvision's MNIST/raw layout)."""
    for name in (stem, stem + ".gz"):
        hits = sorted(folder.rglob(name))
        if hits:
            return hits[0]
    return None


def _decode(data: bytes, mode: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert(mode))


def _stack(images: list[np.ndarray], where: str) -> torch.Tensor:
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise DataSourceError(
            f"{where}: images have different sizes {sorted(shapes)[:3]}...; pass --data.init_args.image_size N"
        )
    arr = np.stack(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def read_image_tree(root: Path, mode: str = "RGB", size: int | None = None) -> dict[str, dict]:
    """Read ``[split/]class/image`` trees from a folder or a (gzipped) tar of one.

    Returns ``{split: {"images": uint8 NCHW, "labels": names list}}`` with split ``"train"``,
    ``"val"`` (folders ``val``, ``valid``, ``validation`` or ``dev``) or ``"test"``; a tree without
    split folders is returned as split ``"all"``.
    """
    entries: list[tuple[tuple[str, ...], bytes]] = []
    if root.is_file() and tarfile.is_tarfile(root):
        with tarfile.open(root) as tar:
            for m in tar.getmembers():
                if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES:
                    entries.append((Path(m.name).parts, tar.extractfile(m).read()))
    elif root.is_dir():
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                entries.append((f.relative_to(root).parts, f.read_bytes()))
    else:
        raise DataSourceError(f"{root} is neither a folder nor a tar archive of class folders")
    if not entries:
        raise DataSourceError(f"no images under {root}; expected class folders such as {root}/cat/001.jpg")
    depth = min(len(parts) for parts, _ in entries)
    splits_named = depth >= 3 and any(canonical_split(p[-3]) for p, _ in entries)
    grouped: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    skipped = 0
    for parts, data in sorted(entries, key=lambda e: e[0]):
        split = canonical_split(parts[-3]) if splits_named else "all"
        if split is None:  # e.g. a stray extra/ folder beside train/ and test/
            skipped += 1
            continue
        grouped[split].append((parts[-2], data))
    if skipped:
        log.warn(
            f"{root}: skipped {skipped} images outside the train/ val/ test/ folders (dev/ validation/ valid/ = val)"
        )
    out = {}
    for split, items in grouped.items():
        images = []
        for _, data in items:
            arr = _decode(data, mode)
            if size is not None and arr.shape[:2] != (size, size):
                arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.BILINEAR))
            images.append(arr)
        out[split] = {"images": _stack(images, str(root)), "labels": [c for c, _ in items]}
    return out


def read_image_files(path: Path, mode: str, size: tuple[int, int]) -> tuple[torch.Tensor, list[str]]:
    """One image file, or every image below a folder (sorted by relative path), resized to
    ``size = (height, width)``: ``(uint8 N x C x H x W, names)``. What ``predict`` classifies."""
    if path.is_file():
        files, names = [path], [path.name]
    elif path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        names = [str(f.relative_to(path)) for f in files]
    else:
        raise DataSourceError(f"no image or folder at {path}; pass an existing --data.init_args.predict_path")
    if not files:
        raise DataSourceError(
            f"no images under {path}; pass --data.init_args.predict_path with image files "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    images = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert(mode)
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            images.append(np.asarray(im))
    return _stack(images, str(path)), names


def read_cifar_pickles(folder: Path) -> dict[str, dict]:
    """torchvision's ``cifar-10-batches-py`` layout (data_batch_1..5, test_batch)."""
    batches = {"train": sorted(folder.rglob("data_batch_*")), "test": sorted(folder.rglob("test_batch"))}
    if not batches["train"]:
        raise DataSourceError(f"no CIFAR-10 pickles (data_batch_*) under {folder}")
    out = {}
    for split, files in batches.items():
        xs, ys = [], []
        for f in files:
            with open(f, "rb") as fh:
                d = pickle.load(fh, encoding="latin1")  # the official format is a pickle; local, trusted files only
            xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.extend(d["labels"])
        if xs:
            out[split] = {"images": torch.from_numpy(np.concatenate(xs)), "labels": torch.tensor(ys)}
    return out
