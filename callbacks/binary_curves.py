"""Precision-recall and ROC curves (with their AUCs) of a two-class Classifier, at the end of test
(and of the last validation epoch), with the operating point of the decision threshold marked."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, Trainer
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_precision_recall_curve,
    binary_roc,
)

from callbacks.figures import log_figure, plt


class BinaryCurves(Callback):
    """Draws ``pl_module.epoch_scores[stage]`` (positive-class probabilities and labels of the whole
    epoch, gathered across ranks by ``lab_modules.Classifier(class_metrics=true)``) as PR and ROC
    curves; nothing for a module without them. ``every_n_epochs`` limits the validation figures."""

    def __init__(self, every_n_epochs: int = 0) -> None:
        self.every_n_epochs = every_n_epochs  # 0: validation curves only after the last epoch

    def _draw(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        scores = getattr(pl_module, "epoch_scores", {}).get(stage)
        if scores is None or trainer.sanity_checking:
            return
        s, t = scores
        if not 0 < int(t.sum()) < len(t):
            return  # one class only: no curve
        threshold = float(getattr(pl_module, "decision_threshold", 0.5))
        precision, recall, _ = binary_precision_recall_curve(s, t)
        fpr, tpr, _ = binary_roc(s, t)
        ap, auc = float(binary_average_precision(s, t)), float(binary_auroc(s, t))
        pred = s >= threshold
        tp = int((pred & (t == 1)).sum())
        op_recall = tp / max(int(t.sum()), 1)
        op_precision = tp / max(int(pred.sum()), 1)
        op_fpr = int((pred & (t == 0)).sum()) / max(int((t == 0).sum()), 1)
        positive = pl_module.class_names[1] if len(pl_module.class_names) > 1 else "1"
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2))
        a.plot(recall.numpy(), precision.numpy(), lw=1.5)
        a.axhline(float(t.float().mean()), ls="--", c="grey", lw=1, label=f"chance ({float(t.float().mean()):.3f})")
        a.scatter([op_recall], [op_precision], c="red", zorder=3, label=f"threshold {threshold:.4g}")
        a.set(xlabel=f"recall ({positive})", ylabel="precision", title=f"{stage} PR curve, AP (PR-AUC) {ap:.3f}")
        a.legend(fontsize=8)
        b.plot(fpr.numpy(), tpr.numpy(), lw=1.5)
        b.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        b.scatter([op_fpr], [op_recall], c="red", zorder=3, label=f"threshold {threshold:.4g}")
        b.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{stage} ROC curve, AUC {auc:.3f}")
        b.legend(fontsize=8)
        fig.suptitle(f"{int(t.sum())} positives of {len(t)} rows, epoch {trainer.current_epoch}", fontsize=9)
        fig.tight_layout()
        log_figure(trainer, fig, f"{stage}/pr_roc_curves")

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        if last or (self.every_n_epochs and epoch % self.every_n_epochs == 0):
            self._draw(trainer, pl_module, "val")

    def on_test_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._draw(trainer, pl_module, "test")
