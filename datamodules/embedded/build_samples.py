"""Rebuild the embedded samples from the full copies in ../shared/data (run once by maintainers).

    python datamodules/embedded/build_samples.py ../shared/data

Deterministic: the same inputs give byte-identical outputs.
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
MNIST_TRAIN_PER_CLASS = 500
MNIST_TEST = 1000
CIFAR_PER_CLASS = 200


def _read_idx(path: Path) -> np.ndarray:
    data = gzip.open(path).read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _write_idx(path: Path, arr: np.ndarray) -> None:
    magic = 2048 + arr.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def build_mnist(shared: Path) -> None:
    out = HERE / "mnist"
    out.mkdir(exist_ok=True)
    x, y = _read_idx(shared / "mnist/train-images-idx3-ubyte.gz"), _read_idx(shared / "mnist/train-labels-idx1-ubyte.gz")
    idx = np.sort(np.concatenate([np.flatnonzero(y == d)[:MNIST_TRAIN_PER_CLASS] for d in range(10)]))
    _write_idx(out / "train-images-idx3-ubyte.gz", x[idx])
    _write_idx(out / "train-labels-idx1-ubyte.gz", y[idx])
    tx, ty = _read_idx(shared / "mnist/t10k-images-idx3-ubyte.gz"), _read_idx(shared / "mnist/t10k-labels-idx1-ubyte.gz")
    _write_idx(out / "t10k-images-idx3-ubyte.gz", tx[:MNIST_TEST])
    _write_idx(out / "t10k-labels-idx1-ubyte.gz", ty[:MNIST_TEST])


def build_cifar(shared: Path) -> None:
    src = shared / "cifar10_jpg_subset/cifar10_train_first1000perclass.tar.gz"
    counts: dict[str, int] = {}
    buf = io.BytesIO()
    with tarfile.open(src) as tin, tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tout:
        for m in sorted(tin.getmembers(), key=lambda m: m.name):
            if not m.isfile():
                continue
            cls = Path(m.name).parent.name
            if counts.get(cls, 0) >= CIFAR_PER_CLASS:
                continue
            counts[cls] = counts.get(cls, 0) + 1
            data = tin.extractfile(m).read()
            info = tarfile.TarInfo(m.name)
            info.size, info.mtime, info.uid, info.gid, info.mode = len(data), 0, 0, 0, 0o644
            tout.addfile(info, io.BytesIO(data))
    with open(HERE / "cifar10_sample.tar.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(buf.getvalue())


if __name__ == "__main__":
    shared_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    build_mnist(shared_dir)
    build_cifar(shared_dir)
