"""Time series from a CSV (date column + value columns): chronological splits, train-only scaling, windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from datamodules.base import EMBEDDED_DIR, LabDataModule, split_indices
from datamodules.series_readers import find_csv, read_series_csv
from datamodules.series_scaling import MISSING, Missing, Scaler, fill_missing, fit_scaling, scale
from datamodules.series_windows import SeriesWindows
from labcore import log
from labcore.errors import LabError

# Embedded copies (datamodules/embedded/series/) and the file names of the full copies they stand for.
EMBEDDED = {
    "daily_min_temperatures": ("daily-min-temperatures.csv.gz", "daily-min-temperatures.csv"),
    "india_air_quality": ("city_day_delhi_mumbai.csv.gz", "city_day.csv.gz"),
}


class TimeSeriesDataModule(LabDataModule):
    """Windows of ``lookback`` steps of ``value_columns`` predicting the next ``horizon`` steps of
    ``target_columns`` (default: the value columns), from a CSV with a ``date_column``.

    Order of work, so that nothing of val / test reaches what is fitted: read (rows matching
    ``filter``, a regular ``frequency`` index), split chronologically into train / val / test
    blocks (``val_fraction`` / ``test_fraction``, never shuffled), fit the missing-value fill
    (train mean) and the ``scaler`` (``minmax`` onto ``feature_range``, ``standard`` or ``none``)
    on the TRAIN block only, fill each block on its own (``missing``: ``ffill`` | ``mean`` |
    ``drop``), and cut windows inside each block (none crosses a boundary). Windows whose
    targets are missing are dropped (a filled target would be scored against a guess), with a count.

    The fitted statistics are the data state saved in the checkpoint; ``model_info()`` gives
    ``input_size``, ``out_features`` (``horizon * len(target_columns)``), ``lookback``,
    ``target_index`` and ``target_shift`` / ``target_scale`` / ``target_names`` so that the
    Regressor reports real units. Batches: ``window`` (N x lookback x F), ``y`` (N x out),
    ``naive`` (the last-value forecast, scaled like ``y``), ``start``.

    Args:
        dataset: which embedded copy (``daily_min_temperatures`` | ``india_air_quality``) stands in
            when there is no ``path``, and the full copy's file name looked for under ``data_dir``.
        path: a CSV (or CSV.gz) file, or a folder holding exactly one (e.g. ``../shared/data/daily_min_temperatures``).
        date_column / value_columns / target_columns / filter / frequency: what to read (see above).
        lookback / horizon: window length in steps, and steps predicted.
        val_fraction / test_fraction: shares of the rows, in time order (train first).
        missing / scaler / feature_range: see above.
        on_device: on a CUDA trainer, keep the series in device memory and cut the windows there
            (``datamodules.device_batches``); a no-op on CPU.
    """

    name = "timeseries"
    how_to_get = "pass --data.init_args.path FILE.csv (e.g. ../shared/data/daily_min_temperatures)"
    default_split = "ordered"
    optional_model_info: ClassVar[frozenset[str]] = frozenset({"lookback", "target_index", "input_size"})

    def __init__(
        self,
        dataset: str = "daily_min_temperatures",
        date_column: str = "Date",
        value_columns: list[str] = ["Temp"],  # noqa: B006 - jsonargparse needs a literal default
        target_columns: list[str] | None = None,
        filter: dict[str, str] | None = None,  # noqa: A002 - the config's word
        frequency: str | None = "D",
        lookback: int = 10,
        horizon: int = 1,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        missing: Missing = "ffill",
        scaler: Scaler = "minmax",
        feature_range: tuple[float, float] = (-1.0, 1.0),
        batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the ``LabDataModule`` arguments (``source``, ``path``, ``on_device``, ...); the split is
        always ``ordered`` (a series is never shuffled across train / val / test)."""
        split = kwargs.pop("split", None)
        if split not in (None, "ordered"):
            raise LabError(
                f"{self.name}: split {split!r}: a series splits in time order; leave --data.init_args.split out"
            )
        if dataset not in EMBEDDED:
            raise LabError(f"unknown dataset {dataset!r}; pass --data.init_args.dataset {' | '.join(EMBEDDED)}")
        if lookback < 1 or horizon < 1:
            raise LabError(f"lookback={lookback}, horizon={horizon}: both must be >= 1")
        if missing not in MISSING:
            raise LabError(
                f"unknown missing-value policy {missing!r}; pass --data.init_args.missing {' | '.join(MISSING)}"
            )
        targets = list(target_columns or value_columns)
        super().__init__(split="ordered", batch_size=batch_size, **kwargs)
        self.dataset, self.date_column = dataset, date_column
        self.value_columns, self.target_columns = list(value_columns), targets
        self.columns = list(dict.fromkeys([*self.value_columns, *targets]))  # inputs first, then other targets
        self.filter, self.frequency = dict(filter) if filter else None, frequency
        self.lookback, self.horizon = lookback, horizon
        self.fractions = {"val": val_fraction, "test": test_fraction}
        self.missing, self.scaler, self.feature_range = missing, scaler, tuple(feature_range)
        self.frames: dict[str, pd.DataFrame] = {}  # each split's rows in real units, as read (for figures)

    # --- source ----------------------------------------------------------------------------
    def _full_copy(self) -> Path | None:
        p = self.data_dir / EMBEDDED[self.dataset][1]
        return p if p.is_file() else None

    def _csv(self) -> Path:
        resolved, location = self.resolve()
        if resolved == "embedded":
            return EMBEDDED_DIR / "series" / EMBEDDED[self.dataset][0]
        return find_csv(location, self.name)

    # --- data ------------------------------------------------------------------------------
    def read(self) -> pd.DataFrame:
        """The whole series (real units, missing values as NaN), date-indexed."""
        return read_series_csv(self._csv(), self.date_column, self.columns, self.filter, self.frequency, name=self.name)

    def split_indices_for(self, n: int) -> dict[str, Any]:
        """Row indices of the contiguous train / val / test blocks of ``n`` rows, in time order."""
        parts = split_indices(n, self.fractions, "ordered")
        short = [k for k, idx in parts.items() if len(idx) < self.lookback + self.horizon]
        if short:
            raise LabError(
                f"{self.name}: the {', '.join(short)} part has fewer than lookback + horizon = "
                f"{self.lookback + self.horizon} rows ({n} rows in all); use a shorter lookback or larger fractions"
            )
        return parts

    def fit_state(self, train: pd.DataFrame) -> dict[str, Any]:
        """Fill values and scaler of every column, from the TRAIN rows only."""
        state = fit_scaling(train.to_numpy(), self.columns, self.scaler, self.feature_range)
        return {"columns": self.columns, "targets": self.target_columns, **state}

    def _windows(self, frame: pd.DataFrame, state: dict[str, Any], offset: int, split: str) -> SeriesWindows:
        raw = frame.to_numpy()
        filled = fill_missing(raw, self.missing, state["fill"])
        scaled = scale(filled, state["shift"], state["scale"])
        scaled_raw = scale(raw, state["shift"], state["scale"])  # targets: never filled
        cols = state["columns"]
        inputs = scaled[:, [cols.index(c) for c in self.value_columns]]
        t_idx = [cols.index(c) for c in self.target_columns]
        windows = SeriesWindows(inputs, scaled_raw[:, t_idx], scaled[:, t_idx], self.lookback, self.horizon, offset)
        if windows.dropped:
            log.warn(
                f"{self.name}: {split}: dropped {windows.dropped} of {windows.possible} windows with missing values "
                f"(missing={self.missing}; targets are never filled)"
            )
        return windows

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        frame = self.read()
        parts = self.split_indices_for(len(frame))
        frames = {k: frame.iloc[idx.numpy()] for k, idx in parts.items()}
        state = self.fitted_state(frames["train"])
        if state.get("columns") != self.columns:
            raise LabError(
                f"{self.name}: the checkpoint's data state has columns {state.get('columns')}, the config "
                f"{self.columns}; use the config the checkpoint was trained with"
            )
        self.frames = frames
        for split, idx in parts.items():
            self.datasets[split] = self._windows(frames[split], state, int(idx[0]) if len(idx) else 0, split)
        log.info(
            f"{self.name}: "
            + ", ".join(
                f"{k} {len(f)} rows {f.index[0].date()}..{f.index[-1].date()} ({len(self.datasets[k])} windows)"
                for k, f in frames.items()
            )
        )

    # --- what the model and the callbacks read ---------------------------------------------
    def _target_stats(self) -> tuple[list[float], list[float]]:
        st = self.data_state
        cols = st["columns"]
        shift = [st["shift"][cols.index(c)] for c in self.target_columns]
        scale_ = [st["scale"][cols.index(c)] for c in self.target_columns]
        return shift * self.horizon, scale_ * self.horizon  # step-major, as the windows' y

    def target_names(self) -> list[str]:
        """One name per output value: the target column, with ``+h`` when the horizon is longer than 1."""
        if self.horizon == 1:
            return list(self.target_columns)
        return [f"{c}+{h + 1}" for h in range(self.horizon) for c in self.target_columns]

    def model_info(self) -> dict[str, Any]:
        if not self.has_state:
            self.setup("fit")
        shift, scale_ = self._target_stats()
        # the residual forecaster adds each target's last input value: one input column per target, or none
        inputs = [self.value_columns.index(c) for c in self.target_columns if c in self.value_columns]
        return {
            "input_size": len(self.value_columns),
            "lookback": self.lookback,
            "out_features": self.horizon * len(self.target_columns),
            "target_index": (inputs[0] if len(inputs) == 1 else inputs)
            if len(inputs) == len(self.target_columns)
            else None,
            "target_shift": shift,
            "target_scale": scale_,
            "target_names": self.target_names(),
        }

    def target_dates(self, split: str) -> pd.DatetimeIndex:
        """Date of each window's first target step in ``datasets[split]`` (set up)."""
        ds: SeriesWindows = self.datasets[split]
        return self.frames[split].index[(ds.starts + ds.lookback).numpy()]

    def real_values(self, split: str, column: str) -> pd.Series:
        """``column`` of the split's rows in real units, as read (missing values as NaN)."""
        return self.frames[split][column]

    def windows_array(self, split: str) -> dict[str, np.ndarray]:
        """Every window of ``split`` at once (benchmarks fit sklearn baselines on them)."""
        ds: SeriesWindows = self.datasets[split]
        return {k: v.numpy() for k, v in ds.__getitems__(list(range(len(ds)))).items()}
