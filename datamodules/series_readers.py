"""Reads a CSV with a date column and value columns into a date-indexed float frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from labcore import log
from labcore.errors import DataSourceError, LabError


def read_series_csv(
    path: Path,
    date_column: str,
    columns: list[str],
    filter: dict[str, str] | None = None,  # noqa: A002 - the config's word
    frequency: str | None = "D",
    name: str = "series",
) -> pd.DataFrame:
    """``columns`` of the rows that match ``filter`` (``{column: value}``), indexed by date, sorted.

    Non-numeric entries become missing (counted in a warning). With ``frequency`` (a pandas
    offset alias, ``D`` = daily) the index is made regular: missing dates become rows of missing
    values, so a window of ``lookback`` rows always spans ``lookback`` periods.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise DataSourceError(
            f"{name}: cannot read {path} as CSV ({err}); pass a CSV file as --data.init_args.path"
        ) from None
    wanted = [date_column, *columns, *(filter or {})]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataSourceError(
            f"{name}: {path.name} has no column(s) {missing} (it has {list(frame.columns)}); "
            f"set --data.init_args.date_column / value_columns / filter to its column names"
        )
    for column, value in (filter or {}).items():
        frame = frame[frame[column] == str(value)]
    if frame.empty:
        raise LabError(
            f"{name}: no rows of {path.name} match filter {filter}; pass --data.init_args.filter with a value present"
        )
    dates = pd.to_datetime(frame[date_column], errors="coerce")
    if dates.isna().any():
        log.warn(f"{name}: dropped {int(dates.isna().sum())} of {len(frame)} rows with an unreadable {date_column}")
    values = frame[columns].apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce"))
    bad = int((values.isna() & frame[columns].apply(lambda s: s.str.strip() != "")).sum().sum())
    if bad:
        log.warn(f"{name}: {bad} non-numeric entries in {columns} read as missing values")
    values.index = dates
    values = values[values.index.notna()].sort_index()
    duplicated = values.index.duplicated()
    if duplicated.any():
        log.warn(f"{name}: {int(duplicated.sum())} rows repeat an earlier date; kept the first of each (check filter)")
        values = values[~duplicated]
    if frequency:
        before = len(values)
        values = values.asfreq(frequency)
        if len(values) > before:
            log.info(f"{name}: {len(values) - before} missing dates inserted as missing values ({frequency} steps)")
    return values.astype("float64")


def find_csv(location: Path, name: str) -> Path:
    """``location`` itself when it is a file, else the one ``*.csv`` / ``*.csv.gz`` file inside it."""
    if location.is_file():
        return location
    found = sorted([*location.glob("*.csv"), *location.glob("*.csv.gz")])
    if len(found) != 1:
        raise DataSourceError(
            f"{name}: {location} holds {len(found)} CSV files; pass the file itself as --data.init_args.path"
        )
    return found[0]
