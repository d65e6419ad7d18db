"""The embedded detection set: real MNIST digits pasted on blank canvases, with exact boxes.

How a canvas is made (``make_canvases``), all from one ``torch.Generator`` seeded with ``seed``:

1. draw the number of digits, uniform in ``[min_digits, max_digits]``;
2. for each digit, draw one from the split's pool, a side length uniform in ``[min_scale, max_scale]``
   pixels (the 28 x 28 digit is resized to that square, bilinear) and a position where the digit's
   ink box does not overlap an already placed one (``tries`` attempts, else the digit is skipped);
3. paste it with ``max`` (ink over black), so touching digits keep both inks;
4. the box is the tight box of the pasted ink (pixels above ``ink_threshold``) in pixel-edge
   ``x1, y1, x2, y2`` coordinates (a pixel column ``c`` spans ``[c, c + 1)``), the label its class.

The pools are disjoint: training canvases use embedded MNIST training digits ``[0, 4000)``,
validation canvases ``[4000, 5000)`` and test canvases the embedded MNIST test digits, so no digit
image is seen in two splits. The same arguments always give the same canvases (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

INK_THRESHOLD = 32  # uint8 ink level above which a pixel counts as part of the digit


@dataclass
class Canvases:
    """``images`` uint8 N x 1 x S x S; ``boxes[i]`` float K_i x 4 (x1, y1, x2, y2); ``labels[i]`` int64 K_i."""

    images: Tensor
    boxes: list[Tensor]
    labels: list[Tensor]


def ink_box(digit: Tensor, threshold: int = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """Tight pixel-edge box ``(x1, y1, x2, y2)`` of the pixels above ``threshold`` in a 2-d uint8 image."""
    ys, xs = torch.nonzero(digit > threshold, as_tuple=True)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _resize(digit: Tensor, side: int) -> Tensor:
    x = F.interpolate(digit[None, None].float(), size=(side, side), mode="bilinear", align_corners=False)
    return x[0, 0].round().clamp(0, 255).to(torch.uint8)


def _overlaps(box: tuple[int, int, int, int], placed: list[tuple[int, int, int, int]]) -> bool:
    return any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed)


def make_canvases(
    digits: Tensor,
    digit_labels: Tensor,
    n: int,
    size: int = 128,
    min_digits: int = 1,
    max_digits: int = 5,
    min_scale: int = 20,
    max_scale: int = 44,
    seed: int = 0,
    tries: int = 20,
    threshold: int = INK_THRESHOLD,
) -> Canvases:
    """``n`` canvases of ``size`` x ``size`` from the pool ``digits`` (uint8 M x 28 x 28) with classes
    ``digit_labels`` (M). See the module docstring for the procedure."""
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    if not 4 <= min_scale <= max_scale <= size:
        raise ValueError(f"need 4 <= min_scale <= max_scale <= size, got {min_scale}, {max_scale}, {size}")
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    all_boxes, all_labels = [], []
    for i in range(n):
        k = int(torch.randint(min_digits, max_digits + 1, (), generator=g))
        placed: list[tuple[int, int, int, int]] = []
        labels: list[int] = []
        for _ in range(k):
            j = int(torch.randint(len(digits), (), generator=g))
            side = int(torch.randint(min_scale, max_scale + 1, (), generator=g))
            digit = _resize(digits[j], side)
            box = ink_box(digit, threshold)
            if box is None:
                continue
            for _ in range(tries):
                x0 = int(torch.randint(size - side + 1, (), generator=g))
                y0 = int(torch.randint(size - side + 1, (), generator=g))
                b = (box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0)
                if not _overlaps(b, placed):
                    region = images[i, 0, y0 : y0 + side, x0 : x0 + side]
                    torch.maximum(region, digit, out=region)
                    placed.append(b)
                    labels.append(int(digit_labels[j]))
                    break
        all_boxes.append(torch.tensor(placed, dtype=torch.float32).reshape(-1, 4))
        all_labels.append(torch.tensor(labels, dtype=torch.long))
    return Canvases(images, all_boxes, all_labels)


# Disjoint digit pools of the embedded MNIST sample (5000 training, 1000 test digits).
POOLS = {"train": ("train", 0, 4000), "val": ("train", 4000, 5000), "test": ("test", 0, None)}
SPLIT_SEED_OFFSET = {"train": 0, "val": 1, "test": 2}
