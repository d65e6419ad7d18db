"""Column preprocessing for tables, fitted on the training rows only and kept as plain lists.

``fit_features(train, ...)`` learns, from the TRAINING rows alone, the fill value (median or mean)
and the standardisation (mean, std) of each numeric column, and the category list (plus the fill
value for missing entries: the most frequent training category) of each categorical column.
``transform(frame, state)`` applies that state to any rows. The state is a dict of lists, numbers
and strings, so it goes into a ``weights_only`` checkpoint as it is (no pickled sklearn objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from labcore import log

Impute = Literal["median", "mean"]
Scale = Literal["standard", "none"]
Encoding = Literal["onehot", "ordinal"]


@dataclass(frozen=True)
class Preprocessing:
    """How feature columns and the target are prepared, fitted on the training rows only:
    ``--data.init_args.preprocessing.<field>``, in YAML ``preprocessing: {encoding: ordinal}``.

    Args:
        impute: fill of missing numeric entries (``median`` / ``mean`` of the training rows); missing
            categories take the most frequent training category.
        scale: ``standard`` (training mean/std) or ``none``.
        encoding: categorical columns ``onehot`` or ``ordinal``.
        target_scaling: regression target ``standard`` (training mean/std; ``model_info`` gives
            ``target_shift`` / ``target_scale``, real = scaled * scale + shift) or ``none``.
    """

    impute: Impute = "median"
    scale: Scale = "standard"
    encoding: Encoding = "onehot"
    target_scaling: Literal["standard", "none"] = "standard"


DEFAULT_PREPROCESSING = Preprocessing()


def numeric_column(frame: pd.DataFrame, column: str, what: str = "table") -> np.ndarray:
    """``frame[column]`` as float64; entries that are not numbers become NaN (counted in a warning)."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = int((values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")).sum())
    if bad:
        log.warn(f"{what}: {bad} non-numeric entries in column {column!r} treated as missing")
    return values.to_numpy(dtype=np.float64)


def category_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``frame[column]`` as strings, with missing entries as None."""
    raw = frame[column]
    return np.array([None if pd.isna(v) or str(v).strip() == "" else str(v).strip() for v in raw], dtype=object)


def fit_features(
    train: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    impute: Impute = "median",
    scale: Scale = "standard",
    encoding: Encoding = "onehot",
) -> dict[str, Any]:
    """The column statistics of the TRAINING rows ``train`` (nothing else may be passed here)."""
    fill, mean, std = [], [], []
    for col in numeric:
        x = numeric_column(train, col, "train")
        seen = x[~np.isnan(x)]
        if len(seen) == 0:
            fill.append(0.0)
        else:
            fill.append(float(np.median(seen) if impute == "median" else seen.mean()))
        filled = np.where(np.isnan(x), fill[-1], x)
        m, s = float(filled.mean()), float(filled.std())
        mean.append(m if scale == "standard" else 0.0)
        std.append(s if scale == "standard" and s > 0 else 1.0)
    categories, cat_fill = [], []
    for col in categorical:
        x = category_column(train, col)
        present = pd.Series([v for v in x if v is not None], dtype=object)
        counts = present.value_counts()
        categories.append(sorted(counts.index.tolist()))
        # ties broken by name, so the fill does not depend on row order
        cat_fill.append(min(counts.index, key=lambda c: (-counts[c], c)) if len(counts) else "")
    state = {
        "numeric": list(numeric),
        "numeric_fill": fill,
        "numeric_mean": mean,
        "numeric_std": std,
        "categorical": list(categorical),
        "categories": categories,
        "categorical_fill": cat_fill,
        "encoding": encoding,
    }
    state["feature_names"] = feature_names(state)
    return state


def feature_names(state: dict[str, Any]) -> list[str]:
    """The names of the columns ``transform`` produces, in order."""
    names = list(state["numeric"])
    for col, cats in zip(state["categorical"], state["categories"]):
        names += [f"{col}={c}" for c in cats] if state["encoding"] == "onehot" else [col]
    return names


def transform(frame: pd.DataFrame, state: dict[str, Any], what: str = "table") -> np.ndarray:
    """``N x F`` float32 features of ``frame`` under the fitted ``state`` (imputed, scaled, encoded)."""
    parts = []
    for col, fill, m, s in zip(state["numeric"], state["numeric_fill"], state["numeric_mean"], state["numeric_std"]):
        x = numeric_column(frame, col, what)
        parts.append(((np.where(np.isnan(x), fill, x) - m) / s)[:, None])
    for col, cats, fill in zip(state["categorical"], state["categories"], state["categorical_fill"]):
        x = category_column(frame, col)
        index = {c: i for i, c in enumerate(cats)}
        missing = sum(v is None for v in x)
        unknown = sum(v is not None and v not in index for v in x)
        if unknown:
            log.warn(
                f"{what}: {unknown} entries of {col!r} are categories the training rows never had"
                + ("; encoded as all zeros" if state["encoding"] == "onehot" else f"; encoded as {fill!r}")
            )
        codes = np.array([index.get(fill if v is None else v, -1) for v in x], dtype=np.int64)
        if missing and fill not in index:  # a column missing in every training row
            codes[[v is None for v in x]] = -1
        if state["encoding"] == "onehot":
            hot = np.zeros((len(x), len(cats)), dtype=np.float64)
            rows = np.nonzero(codes >= 0)[0]
            hot[rows, codes[rows]] = 1.0
            parts.append(hot)
        else:
            fill_code = index.get(fill, 0)
            parts.append(np.where(codes >= 0, codes, fill_code).astype(np.float64)[:, None])
    if not parts:
        return np.zeros((len(frame), 0), dtype=np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32)
