"""Readers for the on-disk formats the image datamodules accept.

All return uint8 ``N x C x H x W`` tensors and int64 labels, so every source ends in the
same in-memory form.
"""

from __future__ import annotations

import gzip
import io
import math
import pickle
import tarfile
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from datamodules.splits import canonical_split
from labcore import log
from labcore.errors import DataSourceError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


_COMPLETE_COPY = "pass a complete, uncorrupted copy (download it again)"


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (MNIST's format), gzipped or not."""
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt gzip stream
        reason = "truncated" if isinstance(err, EOFError) else str(err) or type(err).__name__
        raise DataSourceError(f"{path}: cannot read it ({reason}); {_COMPLETE_COPY}") from None
    magic = int.from_bytes(data[0:4], "big")
    if magic not in (2049, 2051):
        raise DataSourceError(f"{path} is not an IDX file (magic {magic}); expected MNIST's IDX format")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + math.prod(dims)
    if len(data) != expected:
        raise DataSourceError(
            f"{path}: {len(data)} bytes where its header {dims} promises {expected}; the file is "
            f"{'truncated' if len(data) < expected else 'corrupt'}: {_COMPLETE_COPY}"
        )
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return torch.from_numpy(arr.copy())


def open_image(source: Path | bytes, mode: str, name: str | Path) -> Image.Image:
    """The image (fully decoded, converted to ``mode``) from a file or bytes; ``name`` is what the
    one-line error names when it is not a readable image (corrupt, truncated, not an image at all)."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            return im.convert(mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = "not an image" if isinstance(err, UnidentifiedImageError) else str(err) or type(err).__name__
        raise DataSourceError(f"{name} is not a readable image ({reason}); delete it or replace it") from None


def tar_images(path: Path, read: bool = True) -> list[tuple[tuple[str, ...], bytes]]:
    """``(path parts, bytes)`` of every image file in a (gzipped) tar (``read=False``: empty bytes, names
    only); a truncated or corrupt archive is one line."""
    try:
        with tarfile.open(path) as tar:
            return [
                (Path(m.name).parts, tar.extractfile(m).read() if read else b"")
                for m in tar.getmembers()
                if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES
            ]
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        reason = "truncated" if isinstance(err, EOFError) else str(err) or type(err).__name__
        raise DataSourceError(f"{path}: cannot read the archive ({reason}); {_COMPLETE_COPY}") from None


def is_tar(path: Path) -> bool:
    try:
        return path.is_file() and tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


def find_file(folder: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` anywhere below ``folder`` (covers torchvision's MNIST/raw layout)."""
    for name in (stem, stem + ".gz"):
        hits = sorted(folder.rglob(name))
        if hits:
            return hits[0]
    return None


def _decode(data: bytes, mode: str, name: str | Path) -> np.ndarray:
    return np.asarray(open_image(data, mode, name))


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
    if is_tar(root):
        entries = tar_images(root)
    elif root.is_dir():
        others = []
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                entries.append((f.relative_to(root).parts, f.read_bytes()))
            elif f.is_file() and not f.name.startswith("."):
                others.append(str(f.relative_to(root)))
        if others:
            log.warn(
                f"{root}: {len(others)} files that are not images ({', '.join(sorted(IMAGE_SUFFIXES))}) left out, "
                f"e.g. {others[:3]}"
            )
    else:
        raise DataSourceError(
            f"{root} is neither a folder nor a readable tar archive; pass a folder of class folders "
            f"(<class>/<image>) or a .tar / .tar.gz of one"
        )
    if not entries:
        raise DataSourceError(f"no images under {root}; expected class folders such as {root}/cat/001.jpg")
    depth = min(len(parts) for parts, _ in entries)
    if depth < 2:
        loose = next("/".join(p) for p, _ in entries if len(p) < 2)
        raise DataSourceError(f"{root}: image {loose} is in no class folder; expected {root}/<class>/<image>")
    splits_named = depth >= 3 and any(canonical_split(p[-3]) for p, _ in entries)
    grouped: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    names: dict[str, list[tuple[str, ...]]] = defaultdict(list)  # each image's path, for the error that names it
    skipped = 0
    for parts, data in sorted(entries, key=lambda e: e[0]):
        split = canonical_split(parts[-3]) if splits_named else "all"
        if split is None:  # e.g. a stray extra/ folder beside train/ and test/
            skipped += 1
            continue
        grouped[split].append((parts[-2], data))
        names[split].append(parts)
    if skipped:
        log.warn(
            f"{root}: skipped {skipped} images outside the train/ val/ test/ folders (dev/ validation/ valid/ = val)"
        )
    out = {}
    for split, items in grouped.items():
        images = []
        for (_, data), parts in zip(items, names[split]):
            arr = _decode(data, mode, f"{root}/{'/'.join(parts)}" if root.is_dir() else f"{root}:{'/'.join(parts)}")
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
        im = open_image(f, mode, f)
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
