"""What every peer script shares: its command line, the data readers, and the one JSON line it ends with.

The peers are the reports' plain PyTorch scripts. They read the same files our labs read (no download here),
split them with fractions like our datamodules' (their own seeded permutation), and train with the same
recipe. The last stdout line is ``PEER_RESULT {json}``, which ``benchmarks/peers/run.py`` reads.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
import time
from pathlib import Path

import numpy as np
import torch

START = time.time()  # the process's first line of work, after `import torch`


def parser(doc: str, epochs: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--data", required=True, help="the data folder / file (as our lab's --data.init_args.path)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=42)
    return p


def setup(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)


def split(n: int, val: float, test: float = 0.0, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded train / val (/ test) index sets, the sizes our datamodules carve."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test, n_val = round(test * n), round(val * n)
    parts = (perm[n_test + n_val :], perm[n_test : n_test + n_val])
    return (*parts, perm[:n_test]) if test else parts


def read_idx(path: Path) -> np.ndarray:
    """An MNIST IDX file (gzipped), as the reports' ``torchvision.datasets.MNIST`` reads it."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_jpeg_tar(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``class/image.jpg`` entries of a tar.gz -> uint8 N x H x W x C, label ids, class names."""
    from PIL import Image

    images, names = [], []
    with tarfile.open(path) as tar:
        for m in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            parts = m.name.split("/")
            if len(parts) < 2 or not parts[-1].lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            images.append(np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")))
            names.append(parts[-2])
    classes = sorted(set(names))
    return np.stack(images), np.array([classes.index(c) for c in names]), classes


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def finish(train_seconds: float, **quality: float) -> None:
    """Print the result line the runner reads."""
    out = {"train_seconds": train_seconds, "process_seconds": time.time() - START, **quality}
    print("PEER_RESULT " + json.dumps(out), flush=True)
