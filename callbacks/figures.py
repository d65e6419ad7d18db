"""Writes a matplotlib figure as PNG in the run directory and to every attached logger."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files, never windows (also on headless CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from lightning.pytorch import Trainer  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger  # noqa: E402


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
        fig.savefig(path, dpi=110, bbox_inches="tight")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(name, fig, global_step=step, close=False)
            elif isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({name: wandb.Image(str(path)), "trainer/global_step": step})
    plt.close(fig)
    return path if trainer.is_global_zero else None


def image_grid(
    images: np.ndarray, titles: list[str] | None = None, ncols: int = 8, cmap: str | None = None, size: float = 1.4
) -> plt.Figure:
    """A grid of images (``N x H x W`` or ``N x H x W x 3`` in [0, 1]) with optional titles."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap if images[i].ndim == 2 else None, vmin=0, vmax=1)
            if titles:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def to_display(images, mean=None, std=None) -> np.ndarray:
    """Normalised ``N x C x H x W`` tensor -> ``N x H x W[x3]`` array in [0, 1]."""
    x = images.detach().float().cpu()
    if mean is not None and std is not None:
        c = x.shape[1]
        x = x * x.new_tensor(std[:c]).view(1, c, 1, 1) + x.new_tensor(mean[:c]).view(1, c, 1, 1)
    x = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x
