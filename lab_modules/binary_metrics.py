"""Two-class metrics at a decision threshold, and the threshold rule chosen on validation.

A threshold rule is ``best_f1`` (the threshold of the best F1 of the positive class on validation),
``recall:R`` (the highest threshold whose validation recall is still >= R, e.g. ``recall:0.85``), or
a number (fixed). The Classifier chooses the threshold at the end of every validation epoch, keeps it
in a buffer (so it is in every checkpoint) and applies it, unchanged, to test and predict.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_precision_recall_curve,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from labcore.errors import LabError

ThresholdRule = tuple[str, float]  # ("best_f1", nan) | ("recall", R) | ("fixed", t)


def parse_threshold(rule: str | float | None) -> ThresholdRule | None:
    """``best_f1`` / ``recall:0.85`` / ``0.5`` -> a rule; None: no threshold (argmax)."""
    if rule is None:
        return None
    text = str(rule).strip().lower()
    if text == "best_f1":
        return ("best_f1", float("nan"))
    if m := re.fullmatch(r"recall:\s*([0-9.]+)", text):
        r = float(m.group(1))
        if 0 < r <= 1:
            return ("recall", r)
    try:
        t = float(text)
    except ValueError:
        t = -1.0
    if 0 <= t <= 1:
        return ("fixed", t)
    raise LabError(f"threshold={rule!r}; pass best_f1, recall:R (0 < R <= 1, e.g. recall:0.85) or a number in [0, 1]")


def choose_threshold(rule: ThresholdRule, scores: Tensor, target: Tensor) -> float | None:
    """The threshold ``rule`` picks on these (validation) scores of the positive class; None when the
    rows hold no positive example (nothing to choose from)."""
    kind, value = rule
    if kind == "fixed":
        return value
    if int(target.sum()) == 0:
        return None
    precision, recall, thresholds = binary_precision_recall_curve(scores, target.long())
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    if kind == "best_f1":
        f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
        return float(thresholds[int(torch.argmax(f1))])
    ok = torch.nonzero(recall >= value).flatten()  # recall falls as the threshold rises
    return float(thresholds[int(ok.max())]) if len(ok) else float(thresholds[0])


def threshold_metrics(scores: Tensor, target: Tensor, threshold: float, class_names: list[str]) -> dict[str, Tensor]:
    """Per-class precision / recall / F1 at ``threshold`` (class 1 = positive when score >= threshold),
    average precision (PR-AUC) and ROC-AUC of the scores; keys like ``precision_<class>``, ``pr_auc``."""
    target = target.long()
    preds = (scores >= threshold).long()
    out: dict[str, Tensor] = {}
    for name, fn in (("precision", multiclass_precision), ("recall", multiclass_recall), ("f1", multiclass_f1_score)):
        values = fn(preds, target, num_classes=2, average=None, zero_division=0)
        for c, v in zip(class_names, values):
            out[f"{name}_{_safe(c)}"] = v
    both = 0 < int(target.sum()) < len(target)  # the AUCs need both classes
    out["pr_auc"] = binary_average_precision(scores, target) if both else torch.tensor(float("nan"))
    out["roc_auc"] = binary_auroc(scores, target) if both else torch.tensor(float("nan"))
    out["threshold"] = torch.tensor(float(threshold))
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", str(name))
