"""Missing-value filling and scaling of series columns, fitted on the training rows only."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from labcore.errors import LabError

Scaler = Literal["minmax", "standard", "none"]
Missing = Literal["ffill", "mean", "drop"]
SCALERS: tuple[str, ...] = ("minmax", "standard", "none")
MISSING: tuple[str, ...] = ("ffill", "mean", "drop")


def fit_scaling(
    train: np.ndarray, columns: list[str], scaler: Scaler, feature_range: tuple[float, float] = (-1.0, 1.0)
) -> dict[str, list[float]]:
    """Per column of the TRAINING rows ``train`` (T x C, NaN = missing): ``fill`` (the mean, for
    missing values), ``shift`` and ``scale`` with ``scaled = (x - shift) / scale``: ``minmax`` maps
    the train minimum and maximum onto ``feature_range``, ``standard`` the mean and std onto 0 and 1."""
    if scaler not in SCALERS:
        raise LabError(f"unknown scaler {scaler!r}; pass --data.init_args.scaler {' | '.join(SCALERS)}")
    empty = [c for c, n in zip(columns, np.isfinite(train).sum(axis=0)) if n == 0]
    if empty:
        raise LabError(f"the training part has no values in {empty}; choose other value_columns or a later split")
    mean = np.nanmean(train, axis=0)
    if scaler == "minmax":
        a, b = feature_range
        if not b > a:
            raise LabError(f"feature_range {list(feature_range)} must rise; pass e.g. [-1, 1]")
        lo, hi = np.nanmin(train, axis=0), np.nanmax(train, axis=0)
        scale = (hi - lo) / (b - a)
        scale = np.where(scale > 0, scale, 1.0)
        shift = lo - a * scale
    elif scaler == "standard":
        std = np.nanstd(train, axis=0)
        shift, scale = mean, np.where(std > 0, std, 1.0)
    else:
        shift, scale = np.zeros_like(mean), np.ones_like(mean)
    return {"fill": mean.tolist(), "shift": shift.tolist(), "scale": scale.tolist()}


def fill_missing(values: np.ndarray, policy: Missing, fill: list[float]) -> np.ndarray:
    """``values`` (T x C, one split) with missing entries filled: ``ffill`` carries the last value
    forward (within this split; leading gaps get the train mean), ``mean`` uses the train mean,
    ``drop`` leaves them missing (the windows that touch them are dropped)."""
    if policy not in MISSING:
        raise LabError(f"unknown missing-value policy {policy!r}; pass --data.init_args.missing {' | '.join(MISSING)}")
    if policy == "drop":
        return values.copy()
    out = pd.DataFrame(values).ffill().to_numpy() if policy == "ffill" else values.copy()
    return np.where(np.isnan(out), np.asarray(fill)[None, :], out)


def scale(values: np.ndarray, shift: list[float], scale_: list[float]) -> np.ndarray:
    """Real units -> scaled."""
    return (values - np.asarray(shift)[None, :]) / np.asarray(scale_)[None, :]


def unscale(values: np.ndarray, shift: list[float], scale_: list[float]) -> np.ndarray:
    """Scaled -> real units."""
    return values * np.asarray(scale_)[None, :] + np.asarray(shift)[None, :]
