"""A grid of input images with their labels (and predictions, once a model exists)."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from callbacks.figures import image_grid, log_figure, to_display
from callbacks.layers import class_probabilities, dataset, fixed_batch, normalization


class SampleGrid(Callback):
    """After the first training epoch: ``n`` training images with their labels. At test end: ``n`` test images
    with true and predicted labels (wrong ones marked), from a fixed seeded draw. Predictions come from
    ``pl_module.probabilities`` (right for one-logit binary classifiers too)."""

    def __init__(self, n: int = 32, seed: int = 0, image_key: str = "image", label_key: str = "label") -> None:
        self.n, self.seed = n, seed
        self.image_key, self.label_key = image_key, label_key

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # After the first epoch rather than at fit start: a data figure need not delay training.
        train = dataset(trainer, "train")
        if trainer.current_epoch != 0 or train is None:
            return
        batch = fixed_batch(train, self.n, self.seed)
        names = pl_module.class_names
        titles = [names[int(y)] for y in batch[self.label_key]]
        fig = image_grid(to_display(batch[self.image_key], *normalization(trainer)), titles, cmap="gray")
        fig.suptitle("training samples", y=1.02)
        log_figure(trainer, fig, "data/train_samples")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        test = dataset(trainer, "test")
        if test is None:
            return
        batch = fixed_batch(test, self.n, self.seed)
        with torch.no_grad():
            inputs = {k: v.to(pl_module.device) for k, v in batch.items() if k != self.label_key}
            preds = class_probabilities(pl_module, inputs).argmax(-1).cpu()
        names = pl_module.class_names
        titles = [
            f"{names[int(t)]}" + ("" if p == t else f" -> {names[int(p)]} ✗")
            for t, p in zip(batch[self.label_key].tolist(), preds.tolist())
        ]
        fig = image_grid(to_display(batch[self.image_key], *normalization(trainer)), titles, cmap="gray")
        fig.suptitle("test samples: true [-> predicted when wrong]", y=1.02)
        log_figure(trainer, fig, "test/samples")
