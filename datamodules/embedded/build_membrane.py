"""Rebuild the embedded ISBI 2012 membrane sample (run once by maintainers; deterministic).

    python datamodules/embedded/build_membrane.py ../shared/data/isbi2012_membrane

All 30 training slices, downscaled 512 -> 192: images with Lanczos, masks by area averaging and
a threshold at one half (thin membranes survive better than with nearest neighbour), stored as
8-bit grey PNG (image) and 1-bit PNG (label, white = cell interior, black = membrane).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent
SIZE = 192


def build(src: Path, out: Path = HERE / "isbi2012_membrane") -> None:
    for sub in ("image", "label"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i in range(30):
        with Image.open(src / "train" / "image" / f"{i}.png") as im:
            im.convert("L").resize((SIZE, SIZE), Image.LANCZOS).save(out / "image" / f"{i}.png", optimize=True)
        with Image.open(src / "train" / "label" / f"{i}.png") as lb:
            small = np.asarray(lb.convert("L").resize((SIZE, SIZE), Image.BOX), dtype=np.float32)
            Image.fromarray(small >= 127.5).convert("1").save(out / "label" / f"{i}.png", optimize=True)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/isbi2012_membrane"))
