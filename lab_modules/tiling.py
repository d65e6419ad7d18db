"""Full-image inference for fully convolutional nets: padding to a multiple, sliding-window tiles."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile + 1, stride))
    return starts if starts[-1] == size - tile else starts + [size - tile]


def padded_call(fn: Callable[[Tensor], Tensor], image: Tensor, multiple: int) -> Tensor:
    """``fn`` on ``image`` reflect-padded so both sides are multiples of ``multiple``; output cropped back."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph), mode="reflect")
    return fn(image)[..., :h, :w]


def sliding_window(
    fn: Callable[[Tensor], Tensor], image: Tensor, tile: int, overlap: int = 32, multiple: int = 32
) -> Tensor:
    """Average of ``fn`` over ``tile`` x ``tile`` windows with ``overlap`` pixels of overlap,
    covering the whole image (the last window is aligned with the border)."""
    n, _, h, w = image.shape
    stride = max(1, tile - overlap)
    out: Tensor | None = None
    count = torch.zeros(1, 1, h, w, device=image.device)
    for top in _starts(h, tile, stride):
        for left in _starts(w, tile, stride):
            patch = image[..., top : top + tile, left : left + tile]
            pred = padded_call(fn, patch, multiple)
            if out is None:
                out = image.new_zeros(n, pred.shape[1], h, w)
            out[..., top : top + tile, left : left + tile] += pred
            count[..., top : top + tile, left : left + tile] += 1
    return out / count
