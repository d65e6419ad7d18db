"""Bar chart of how many examples of each class each split holds."""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

from callbacks.figures import log_figure, plt
from callbacks.layers import dataset


class LabelHistogram(Callback):
    """After the first training epoch: per-class counts of ``splits`` (the datamodule's ``datasets[split].labels``),
    grouped bars with class names. Shows imbalance and that the splits are stratified-ish."""

    def __init__(self, splits: list[str] = ["train", "val", "test"]) -> None:  # noqa: B006
        self.splits = splits
        self.counts: dict[str, np.ndarray] = {}

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Drawn after the first epoch rather than at fit start: a data figure need not delay training.
        if trainer.current_epoch == 0:
            self._draw(trainer, pl_module)

    def _draw(self, trainer: Trainer, pl_module: LightningModule) -> None:
        names = list(pl_module.class_names)
        k = len(names)
        self.counts = {}
        for split in self.splits:
            ds = dataset(trainer, split)
            if ds is None or not hasattr(ds, "labels"):
                rank_zero_warn(f"[dl-labs] LabelHistogram: the datamodule has no labelled {split!r} dataset; skipped")
                continue
            self.counts[split] = torch.bincount(torch.as_tensor(ds.labels).long(), minlength=k).numpy()
        if not self.counts:
            return
        fig, ax = plt.subplots(figsize=(max(5, 0.6 * k + 2), 3.5))
        width = 0.8 / len(self.counts)
        x = np.arange(k)
        for i, (split, c) in enumerate(self.counts.items()):
            ax.bar(x + i * width - 0.4 + width / 2, c, width, label=f"{split} ({int(c.sum())})")
        ax.set_xticks(x, names, rotation=45 if k > 10 else 0, ha="right" if k > 10 else "center", fontsize=8)
        ax.set_ylabel("examples")
        ax.set_title("label histogram")
        ax.legend(fontsize=8)
        fig.tight_layout()
        log_figure(trainer, fig, "data/label_histogram")
