"""Predicted-vs-actual scatter and residual plot of a Regressor, in real units, at the end of test."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, Trainer

from callbacks.figures import log_figure, plt


class PredictedVsActual(Callback):
    """Collects ``pl_module.to_real(pl_module.predict_scaled(batch))`` and the real targets of every
    test batch (one extra forward pass, no grad), gathers them across ranks and draws, for the first
    target column: predicted vs actual with the identity line, and residuals (actual - predicted)
    against the prediction. ``max_points`` caps the scatter (a seeded subset) for large test sets."""

    def __init__(self, max_points: int = 5000) -> None:
        self.max_points = max_points
        self._pred: list[torch.Tensor] = []
        self._true: list[torch.Tensor] = []

    def on_test_epoch_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._pred, self._true = [], []

    @torch.no_grad()
    def on_test_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, *_) -> None:
        key = getattr(pl_module, "target_key", "y")
        if not hasattr(pl_module, "to_real") or key not in batch:
            return
        pred = pl_module.predict_scaled(batch)
        self._pred.append(pl_module.to_real(pred)[:, 0].float())
        self._true.append(pl_module.to_real(batch[key].reshape(pred.shape).to(pred.dtype))[:, 0].float())

    def on_test_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._pred:
            return
        pred = pl_module.all_gather(torch.cat(self._pred)).flatten().cpu()  # equal sizes per rank (padded sampler)
        true = pl_module.all_gather(torch.cat(self._true)).flatten().cpu()
        if len(pred) > self.max_points:
            keep = torch.randperm(len(pred), generator=torch.Generator().manual_seed(0))[: self.max_points]
            pred, true = pred[keep], true[keep]
        name = (getattr(pl_module, "target_names", None) or ["target"])[0]
        resid = true - pred
        r2 = 1 - float((resid**2).sum() / ((true - true.mean()) ** 2).sum().clamp_min(1e-12))
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2))
        a.scatter(true.numpy(), pred.numpy(), s=4, alpha=0.4)
        lo, hi = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
        a.plot([lo, hi], [lo, hi], c="red", lw=1, label="predicted = actual")
        a.set(xlabel=f"actual {name}", ylabel=f"predicted {name}", title=f"test: predicted vs actual (R2 {r2:.3f})")
        a.legend(fontsize=8)
        b.scatter(pred.numpy(), resid.numpy(), s=4, alpha=0.4)
        b.axhline(0, c="red", lw=1)
        b.set(xlabel=f"predicted {name}", ylabel="residual (actual - predicted)", title="test residuals")
        fig.tight_layout()
        log_figure(trainer, fig, "test/predicted_vs_actual")
        self._pred, self._true = [], []
