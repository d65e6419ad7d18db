"""Class-imbalance strategies for the TRAINING split, and the seeded minority subsampling that
recreates a realistic imbalance before the split.

Strategies (``TabularDataModule(imbalance=...)``):

- ``none``: the training rows as they are;
- ``weighted_sampler``: a ``WeightedRandomSampler`` drawing every class equally often (weights
  ``1 / count`` of the example's training class), with replacement, seeded;
- ``class_weights``: the rows as they are; ``model_info()["class_weights"]`` = ``n / (k * count)``
  (scikit-learn's "balanced") goes to the cross-entropy of the Classifier;
- ``undersample`` / ``oversample`` / ``smote``: imbalanced-learn's ``RandomUnderSampler`` /
  ``RandomOverSampler`` / ``SMOTE`` on the training features, seeded.

Validation and test rows are never resampled nor reweighted.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from labcore import log
from labcore.errors import LabError

Imbalance = Literal["none", "weighted_sampler", "class_weights", "undersample", "oversample", "smote"]
IMBALANCE: tuple[str, ...] = ("none", "weighted_sampler", "class_weights", "undersample", "oversample", "smote")
RESAMPLERS = ("undersample", "oversample", "smote")


def subsample_minority(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices (sorted) of the rows kept when the least frequent class is cut down, by a seeded draw,
    to ``fraction`` of all kept rows (e.g. 0.02: 2% frauds). Other classes are kept whole."""
    if not 0 < fraction < 1:
        raise LabError(f"minority_fraction={fraction}; pass a share between 0 and 1 (e.g. 0.02), or null")
    classes, counts = np.unique(labels, return_counts=True)
    minority = classes[np.argmin(counts)]
    rows = np.nonzero(labels == minority)[0]
    others = len(labels) - len(rows)
    want = int(round(fraction * others / (1 - fraction)))
    if want >= len(rows):
        log.warn(
            f"minority_fraction={fraction}: the minority class {minority!r} already makes up "
            f"{len(rows) / len(labels):.2%}; nothing subsampled"
        )
        return np.arange(len(labels))
    if want < 3:
        raise LabError(
            f"minority_fraction={fraction} leaves {want} rows of class {minority!r} (of {len(rows)}); "
            f"pass a larger --data.init_args.minority_fraction or use more data"
        )
    kept = np.random.default_rng(seed).choice(rows, size=want, replace=False)
    keep = np.sort(np.concatenate([np.nonzero(labels != minority)[0], kept]))
    log.info(
        f"minority_fraction={fraction}: kept {want} of {len(rows)} rows of class {minority!r} "
        f"(seeded); it is now {want / len(keep):.2%} of {len(keep)} rows, before the split"
    )
    return keep


def balanced_class_weights(counts: list[int]) -> list[float]:
    """``n / (k * count)`` per class (scikit-learn's "balanced"); a class with no rows gets 0."""
    n, k = sum(counts), len(counts)
    return [n / (k * c) if c else 0.0 for c in counts]


def sample_weights(labels: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Per-example weights ``1 / count[class]``: a weighted sampler then draws every class equally often."""
    inv = torch.tensor([1.0 / c if c else 0.0 for c in counts], dtype=torch.double)
    return inv[labels.long()]


def resample(x: np.ndarray, y: np.ndarray, strategy: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training rows after ``undersample`` / ``oversample`` / ``smote`` (imbalanced-learn, seeded)."""
    if strategy not in RESAMPLERS:
        return x, y
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    if strategy == "smote":
        smallest = min((int(c) for c in np.bincount(y) if c > 0), default=0)
        if smallest < 2:
            raise LabError(
                f"imbalance=smote needs at least 2 training rows of every class, the smallest has {smallest}; "
                f"use --data.init_args.imbalance oversample, or a larger minority_fraction"
            )
        sampler = SMOTE(random_state=seed, k_neighbors=min(5, smallest - 1))
    elif strategy == "oversample":
        sampler = RandomOverSampler(random_state=seed)
    else:
        sampler = RandomUnderSampler(random_state=seed)
    xr, yr = sampler.fit_resample(x, y)
    before, after = np.bincount(y).tolist(), np.bincount(yr, minlength=len(np.bincount(y))).tolist()
    log.info(f"imbalance={strategy}: training rows per class {before} -> {after} (val/test untouched)")
    return np.asarray(xr, dtype=np.float32), np.asarray(yr, dtype=np.int64)
