"""Writes a matplotlib figure as PNG in the run directory and to every attached logger."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files, never windows (also on headless CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from lightning.pytorch import Trainer  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger  # noqa: E402
from PIL import Image  # noqa: E402


def run_dir(trainer: Trainer) -> Path:
    """The run directory. ``trainer.log_dir`` is a collective under DDP: call it on every rank."""
    return Path(trainer.log_dir or trainer.default_root_dir)


def log_figure(trainer: Trainer, fig: plt.Figure, name: str, step: int | None = None) -> Path | None:
    """Save ``fig`` as ``<run dir>/figures/<name>.png`` (rank 0) and send it to TensorBoard / W&B.

    CSV-only runs still get the PNG. Returns the PNG path (None on other ranks).
    """
    path = run_dir(trainer) / "figures" / f"{name.replace('/', '_')}.png"  # on every rank (a broadcast)
    if trainer.is_global_zero:
        step = trainer.global_step if step is None else step
        os.makedirs(path.parent, exist_ok=True)
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=110, bbox_inches="tight")
        path.write_bytes(png.getvalue())
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                # the PNG's pixels: add_figure would lay out and draw the figure a second time
                image = np.asarray(Image.open(png).convert("RGB"))
                logger.experiment.add_image(name, image, global_step=step, dataformats="HWC")
            elif isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({name: wandb.Image(str(path)), "trainer/global_step": step})
    plt.close(fig)
    return path if trainer.is_global_zero else None


def image_grid(
    images: np.ndarray, titles: list[str] | None = None, ncols: int = 8, cmap: str | None = None, size: float = 1.4
) -> plt.Figure:
    """A grid of images (``N x H x W`` or ``N x H x W x 3`` in [0, 1]) with optional titles.

    The tiles are pasted into one mosaic drawn on one axes, titles written above their tiles: one
    subplot per image made a 64-image figure many times slower to lay out and draw.
    """
    images = np.asarray(images, dtype=np.float32)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    h, w = images.shape[1:3]
    gap = max(1, round(min(h, w) / 14))
    title_h = round(h * 0.22) if titles else 0
    cell_h, cell_w = h + gap + title_h, w + gap
    canvas = np.ones((nrows * cell_h + gap, ncols * cell_w + gap, *images.shape[3:]), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        top, left = r * cell_h + gap + title_h, c * cell_w + gap
        canvas[top : top + h, left : left + w] = image
    width = size * ncols
    fig = plt.figure(figsize=(width, width * canvas.shape[0] / canvas.shape[1] + 0.3))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    ax.imshow(canvas, cmap=cmap if images.ndim == 3 else None, vmin=0, vmax=1, interpolation="nearest")
    for i, title in enumerate(titles or []):
        r, c = divmod(i, ncols)
        ax.text(c * cell_w + gap + w / 2, r * cell_h + gap + title_h / 2, title, ha="center", va="center", fontsize=7)
    fig.grid = {"tiles": images, "titles": list(titles or []), "title_h": title_h}  # what it shows, for tests
    return fig


def to_display(images, mean=None, std=None) -> np.ndarray:
    """Normalised ``N x C x H x W`` tensor -> ``N x H x W[x3]`` array in [0, 1]."""
    x = images.detach().float().cpu()
    if mean is not None and std is not None:
        c = x.shape[1]
        x = x * x.new_tensor(std[:c]).view(1, c, 1, 1) + x.new_tensor(mean[:c]).view(1, c, 1, 1)
    x = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x
