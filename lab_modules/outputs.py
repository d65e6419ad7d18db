"""Writing image-valued ``predict`` outputs (generated samples, reconstructions, masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from callbacks.image_grids import save_image_batch


def write_image_predictions(predictions: Sequence[dict[str, Tensor]], run_dir: Path, suffix: str,
                            grid_key: str, grid_n: int = 64) -> list[Path]:
    """``predictions{suffix}.pt``: every key concatenated over batches (images as uint8 0..255);
    ``predictions{suffix}.png``: a grid of the first ``grid_n`` images under ``grid_key``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for k in predictions[0]:
        v = torch.cat([p[k].detach().cpu() for p in predictions])
        out[k] = (v.clamp(0, 1) * 255).round().to(torch.uint8) if v.is_floating_point() and v.dim() == 4 else v
    pt = run_dir / f"predictions{suffix}.pt"
    torch.save(out, pt)
    png = run_dir / f"predictions{suffix}.png"
    save_image_batch(out[grid_key][:grid_n].float() / 255, png, ncols=8)
    return [pt, png]
