"""Confusion-matrix figure at the end of validation and test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from lightning.pytorch import Callback, Trainer

from callbacks.figures import log_figure, plt

if TYPE_CHECKING:
    from lab_modules.task import LabTask


class ConfusionMatrixFigure(Callback):
    """Draws the module's ``confusion_matrix(stage)`` (a torchmetrics confusion matrix, synced
    across ranks) with its ``class_names``; ``every_n_epochs`` limits validation figures. Nothing
    is drawn for a task without one (the method returns None) or before it has seen a batch."""

    def __init__(self, every_n_epochs: int = 1, normalize: bool = False) -> None:
        self.every_n_epochs = every_n_epochs
        self.normalize = normalize

    def _draw(self, trainer: Trainer, pl_module: LabTask, stage: str) -> None:
        metric = pl_module.confusion_matrix(stage)
        if metric is None or not metric.update_called:
            return
        cm = metric.compute().cpu().numpy()
        if trainer.sanity_checking:
            return
        names = list(pl_module.class_names) or [str(i) for i in range(cm.shape[0])]
        shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if self.normalize else cm
        n = cm.shape[0]
        fig, ax = plt.subplots(figsize=(max(4, 0.5 * n + 2), max(3.5, 0.5 * n + 1.5)))
        im = ax.imshow(shown, cmap="Blues")
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        acc = np.trace(cm) / max(cm.sum(), 1)
        ax.set_title(f"{stage} confusion matrix (acc {acc:.4f}, epoch {trainer.current_epoch})")
        if n <= 20:
            for i in range(n):
                for j in range(n):
                    val = f"{shown[i, j]:.2f}" if self.normalize else f"{int(cm[i, j])}"
                    ax.text(
                        j,
                        i,
                        val,
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if shown[i, j] > shown.max() / 2 else "black",
                    )
        log_figure(trainer, fig, f"{stage}/confusion_matrix")

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LabTask) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0 or trainer.current_epoch + 1 == trainer.max_epochs:
            self._draw(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LabTask) -> None:
        self._draw(trainer, pl_module, "test")
