"""One figure callback for every image-producing task (GAN samples, reconstructions, translations,
denoising and segmentation triplets): the module says what to draw, this callback draws it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor

from callbacks.figures import image_grid, log_figure, plt, to_display

if TYPE_CHECKING:
    from lab_modules.task import LabTask


def rows_figure(rows: dict[str, Tensor], ncols: int) -> plt.Figure:
    """One row per entry (row title on the left), ``ncols`` images each."""
    names = list(rows)
    imgs = [to_display(rows[k][:ncols]) for k in names]
    n = max(len(x) for x in imgs)
    fig, axes = plt.subplots(len(names), n, figsize=(1.3 * n + 0.8, 1.35 * len(names)), squeeze=False)
    for r, (name, row) in enumerate(zip(names, imgs)):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(row):
                ax.imshow(row[c], cmap="gray" if row[c].ndim == 2 else None, vmin=0, vmax=1)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def to_figure(value: Any, ncols: int) -> plt.Figure:
    """A tensor N x C x H x W in [0, 1] -> grid; a dict of such tensors -> one row each; a Figure as is."""
    if isinstance(value, Tensor):
        return image_grid(to_display(value), ncols=ncols, cmap="gray")
    if isinstance(value, dict):
        return rows_figure(value, ncols)
    return value


class ImageGrids(Callback):
    """Calls ``pl_module.figure_batches(batch, stage) -> {name: images | {row: images} | Figure}``
    on a fixed batch of the first ``n`` validation (or test) examples, in eval mode without grad,
    and logs each entry with ``callbacks.figures.log_figure`` as ``<stage>/<name>``.

    Validation figures are drawn every ``every_n_epochs`` epochs and named per epoch
    (``val/samples_epoch003``); at fit end, for the names in ``progression``, the first
    ``progression_n`` images of every drawn epoch are stacked into ``val/<name>_progression``
    (e.g. GAN samples from the same fixed noise over training).
    """

    def __init__(
        self,
        n: int = 8,
        every_n_epochs: int = 1,
        ncols: int = 8,
        on_test: bool = True,
        progression: list[str] = ["samples"],
        progression_n: int = 8,
    ) -> None:  # noqa: B006
        self.n, self.every_n_epochs, self.ncols, self.on_test = n, every_n_epochs, ncols, on_test
        self.progression, self.progression_n = list(progression), progression_n
        self.history: dict[str, list[tuple[int, Tensor]]] = {}

    def _fixed_batch(self, trainer: Trainer, stage: str) -> dict[str, Tensor] | None:
        loaders = trainer.val_dataloaders if stage == "val" else trainer.test_dataloaders
        if loaders is None:
            return None
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        dataset = loader.dataset
        idx = list(range(min(self.n, len(dataset))))
        items = (
            dataset.__getitems__(idx)
            if hasattr(dataset, "__getitems__")
            else loader.collate_fn([dataset[i] for i in idx])
        )
        return {k: v for k, v in items.items() if isinstance(v, Tensor)}

    def _draw(self, trainer: Trainer, pl_module: LabTask, stage: str, suffix: str) -> None:
        batch = self._fixed_batch(trainer, stage)
        if batch is None:
            return
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            figures = pl_module.figure_batches({k: v.to(pl_module.device) for k, v in batch.items()}, stage)
        pl_module.train(was_training)
        for name, value in figures.items():
            if stage == "val" and name in self.progression and isinstance(value, Tensor):
                self.history.setdefault(name, []).append(
                    (trainer.current_epoch, value[: self.progression_n].detach().cpu())
                )
            fig = to_figure(value, self.ncols)
            fig.suptitle(f"{stage} {name}" + (f" (epoch {trainer.current_epoch})" if stage == "val" else ""), y=1.02)
            log_figure(trainer, fig, f"{stage}/{name}{suffix}")

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if trainer.sanity_checking or (epoch % self.every_n_epochs and epoch != trainer.max_epochs):
            return
        self._draw(trainer, pl_module, "val", f"_epoch{trainer.current_epoch:03d}")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.on_test:
            self._draw(trainer, pl_module, "test", "")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for name, epochs in self.history.items():
            if len(epochs) < 2:
                continue
            fig = rows_figure({f"epoch {e}": x for e, x in epochs}, self.progression_n)
            fig.suptitle(f"{name}: fixed inputs over training", y=1.01)
            log_figure(trainer, fig, f"val/{name}_progression")
        self.history.clear()


class LossCurves(Callback):
    """At fit end, one figure of the epoch means of ``metrics`` (e.g. ``train/d_loss_epoch``,
    ``train/g_loss_epoch``) against the epoch, read from ``trainer.callback_metrics``."""

    def __init__(self, metrics: list[str], name: str = "train/loss_curves") -> None:
        self.metrics, self.name = list(metrics), name
        self.values: dict[str, list[tuple[int, float]]] = {}

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for key in self.metrics:
            if key in trainer.callback_metrics:
                self.values.setdefault(key, []).append((trainer.current_epoch, float(trainer.callback_metrics[key])))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.values:
            return
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
        for key, pts in self.values.items():
            ax.plot([e for e, _ in pts], [v for _, v in pts], marker="o", ms=3, label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        log_figure(trainer, fig, self.name)
        self.values.clear()


def save_image_batch(images: Tensor, path, ncols: int = 16) -> None:
    """Save ``images`` (N x C x H x W in [0, 1]) as one PNG grid (no axes) at ``path``."""
    from torchvision.utils import save_image

    save_image(images.detach().float().cpu().clamp(0, 1), str(path), nrow=ncols, padding=2)


__all__ = ["ImageGrids", "LossCurves", "save_image_batch", "rows_figure"]
