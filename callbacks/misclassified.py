"""A grid of misclassified test examples: true label, predicted label, confidence."""

from __future__ import annotations

import math

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from callbacks.figures import image_grid, log_figure, to_display
from callbacks.layers import class_probabilities, normalization


class MisclassifiedExamples(Callback):
    """At the end of ``test``: the first ``n`` test examples the model gets wrong (in data
    order), titled ``true -> predicted (p)``. Collected batch by batch in ``on_test_batch_end``
    with one extra no-grad forward, so it needs nothing from the module's ``test_step``; predictions
    and confidences come from ``pl_module.probabilities`` (right for one-logit binary classifiers too)."""

    def __init__(self, n: int = 16, image_key: str = "image", label_key: str = "label") -> None:
        self.n, self.image_key, self.label_key = n, image_key, label_key
        self._found: list[tuple[torch.Tensor, int, int, float]] = []

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._found = []

    @torch.no_grad()
    def on_test_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if len(self._found) >= self.n or not isinstance(batch, dict) or self.label_key not in batch:
            return
        probs = class_probabilities(pl_module, {k: v for k, v in batch.items() if k != self.label_key})
        conf, pred = probs.max(-1)
        wrong = (pred != batch[self.label_key]).nonzero().flatten().tolist()
        for i in wrong[: self.n - len(self._found)]:
            self._found.append(
                (batch[self.image_key][i].cpu(), int(batch[self.label_key][i]), int(pred[i]), float(conf[i]))
            )

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._found:
            return
        names = list(pl_module.class_names)
        images = to_display(torch.stack([f[0] for f in self._found]), *normalization(trainer))
        titles = [f"{names[t]} -> {names[p]} ({c:.2f})" for _, t, p, c in self._found]
        fig = image_grid(images, titles, ncols=min(8, math.ceil(math.sqrt(len(titles)) * 1.5)), cmap="gray")
        fig.suptitle("misclassified test examples: true -> predicted (confidence)", y=1.02)
        log_figure(trainer, fig, "test/misclassified")
