"""Train / val / test splits shared by every datamodule, and the split-name aliases.

Three kinds (a datamodule's ``split`` argument chooses):

- ``random``: a seeded permutation; its own ``torch.Generator`` from ``split_seed``, never the
  global (training) seed, so changing ``seed_everything`` never changes the held-out examples.
- ``stratified``: every part keeps the class proportions of the whole (scikit-learn's
  ``train_test_split(stratify=...)``, seeded by ``split_seed``).
- ``ordered``: no shuffling; contiguous blocks in the data's own order, earliest part train,
  then val, then test (time series, serial sections, anything whose neighbours are alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from labcore.errors import LabError

SplitKind = Literal["random", "stratified", "ordered"]
SPLIT_KINDS: tuple[str, ...] = ("random", "stratified", "ordered")

# Folder / file names that mean a split. Anything else is not a split name (e.g. a class folder).
_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


def canonical_split(name: str) -> Literal["train", "val", "test"] | None:
    """``"train" | "val" | "test"`` for a split folder/file name (``dev``, ``validation``, ``valid``
    and ``val`` are all validation; case-insensitive), None for any other name."""
    return _ALIASES.get(name.strip().lower())  # type: ignore[return-value]


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    counts = [round(f * n) for f in fractions]
    if any(f < 0 for f in fractions) or sum(counts) > n:
        raise LabError(
            f"split fractions {list(fractions)} do not fit {n} examples; pass fractions >= 0 that sum below 1"
        )
    return counts


def seeded_split(n: int, fractions: Sequence[float], seed: int) -> list[Tensor]:
    """Split ``range(n)`` into parts of the given fractions, plus a last part with the rest,
    from a seeded permutation (its own generator: the training seed never moves the split)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts, start = [], 0
    for k in _counts(n, fractions):
        parts.append(perm[start : start + k])
        start += k
    parts.append(perm[start:])
    return parts


def stratified_split(
    labels: Sequence[int] | Tensor | np.ndarray, fractions: Sequence[float], seed: int
) -> list[Tensor]:
    """Like :func:`seeded_split`, but every part keeps the class proportions of ``labels``
    (scikit-learn's ``train_test_split(stratify=...)``, one held-out part after the other)."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels.tolist() if isinstance(labels, Tensor) else labels)
    rest = np.arange(len(y))
    parts = []
    for i, k in enumerate(_counts(len(y), fractions)):
        if k == 0:
            parts.append(torch.empty(0, dtype=torch.long))
            continue
        try:
            rest, part = train_test_split(rest, test_size=k, stratify=y[rest], random_state=seed + i)
        except ValueError as err:  # a class with one example, or fewer held-out examples than classes
            raise LabError(f"stratified split: {err}; use --data.init_args.split random, or larger fractions") from None
        parts.append(torch.as_tensor(np.sort(part), dtype=torch.long))
    parts.append(torch.as_tensor(np.sort(rest), dtype=torch.long))
    return parts


def ordered_split(n: int, fractions: Sequence[float]) -> list[Tensor]:
    """Contiguous blocks in order: ``[0, k0)``, ``[k0, k0 + k1)``, ..., the rest last. No shuffling."""
    parts, start = [], 0
    for k in _counts(n, fractions):
        parts.append(torch.arange(start, start + k))
        start += k
    parts.append(torch.arange(start, n))
    return parts


def split_indices(
    n: int,
    held_out: dict[str, float],
    kind: SplitKind = "random",
    seed: int = 0,
    labels: Sequence[int] | Tensor | np.ndarray | None = None,
) -> dict[str, Tensor]:
    """Indices of ``"train"`` (the rest) and of each held-out part named in ``held_out``
    (``{"test": 0.2, "val": 0.1}``: shares of ``n``).

    ``random`` / ``stratified`` take the held-out parts in the dict's order (so the same dict and
    seed give the same split as ever); ``ordered`` lays out train first, then the held-out parts in
    ``val``, ``test`` order, as contiguous blocks. ``stratified`` needs ``labels``.
    """
    names = list(held_out)
    if kind == "random":
        *parts, train = seeded_split(n, [held_out[k] for k in names], seed)
    elif kind == "stratified":
        if labels is None:
            raise LabError("split=stratified needs class labels; this data has none, use --data.init_args.split random")
        *parts, train = stratified_split(labels, [held_out[k] for k in names], seed)
    elif kind == "ordered":
        names = sorted(names, key=lambda k: ("val", "test").index(k) if k in ("val", "test") else 2)
        counts = _counts(n, [held_out[k] for k in names])
        bounds = np.cumsum([0, n - sum(counts), *counts]).tolist()
        train, *parts = [torch.arange(a, b) for a, b in pairwise(bounds)]
    else:
        raise LabError(f"unknown split {kind!r}; use one of {', '.join(SPLIT_KINDS)}")
    return {"train": train, **dict(zip(names, parts))}
