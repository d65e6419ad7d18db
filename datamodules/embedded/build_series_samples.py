"""Rebuild the embedded time series from the full copies in ../shared/data (run once by maintainers).

    python datamodules/embedded/build_series_samples.py ../shared/data

Writes ``series/`` beside this file: the daily minimum temperatures complete (3,650 days), and the
Delhi and Mumbai rows of India's ``city_day.csv`` (columns City, Date, PM2.5, PM10; values as they
are, empty fields kept). gzip without name or time stamp, so the output is deterministic.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

HERE = Path(__file__).parent / "series"
CITIES = ("Delhi", "Mumbai")
COLUMNS = ("City", "Date", "PM2.5", "PM10")


def _gzip(data: bytes, path: Path) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(data)


def main(shared: Path) -> None:
    HERE.mkdir(exist_ok=True)
    _gzip(
        (shared / "daily_min_temperatures" / "daily-min-temperatures.csv").read_bytes(),
        HERE / "daily-min-temperatures.csv.gz",
    )
    with gzip.open(shared / "india_air_quality" / "city_day.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["City"] in CITIES]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in COLUMNS])
    _gzip(out.getvalue().encode("utf-8"), HERE / "city_day_delhi_mumbai.csv.gz")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
