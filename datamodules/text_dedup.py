"""Duplicate texts in a training pool, removed before it is split (so no text sits in train and val)."""

from __future__ import annotations

import numpy as np


def drop_duplicates(texts: list[str], labels: np.ndarray) -> tuple[list[str], np.ndarray, int, int]:
    """Keep the first occurrence of every text (with its label).

    Returns ``(texts, labels, dropped, conflicting)``: ``conflicting`` counts texts that occurred
    with more than one label; they keep the label of their first occurrence too."""
    first: dict[str, int] = {}
    keep: list[int] = []
    conflicting: set[str] = set()
    for i, t in enumerate(texts):
        j = first.setdefault(t, i)
        if j == i:
            keep.append(i)
        elif labels[j] != labels[i]:
            conflicting.add(t)
    if len(keep) == len(texts):
        return texts, labels, 0, 0
    return [texts[i] for i in keep], labels[np.asarray(keep)], len(texts) - len(keep), len(conflicting)


def overlap(texts: list[str], others: list[str]) -> int:
    """How many of ``texts`` also occur in ``others``."""
    seen = set(others)
    return sum(1 for t in texts if t in seen)
