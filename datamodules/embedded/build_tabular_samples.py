"""Rebuild the embedded table samples from the full copies in ../shared/data (run once by maintainers).

    python datamodules/embedded/build_tabular_samples.py ../shared/data

Writes ``tabular/`` beside this file (rows kept byte-for-byte as in the source files, header
included; gzip without name or time stamp, so the output is deterministic):

- ``california_housing.csv.gz``: every 10th row of Geron's ``housing.csv`` (2,064 rows, missing
  ``total_bedrooms`` and the categorical ``ocean_proximity`` as in the original);
- ``titanic_train.csv.gz``: the Kaggle Titanic ``train.csv``, complete (891 rows);
- ``creditcard_fraud.csv.gz``: the first 60 frauds and the first 600 normal rows of the fraud sample.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

HERE = Path(__file__).parent / "tabular"
HOUSING_EVERY = 10
FRAUDS, NORMALS = 60, 600


def _gzip(text: str, path: Path) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(text.encode("utf-8"))


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        return f.read().splitlines(keepends=True)


def main(shared: Path) -> None:
    HERE.mkdir(exist_ok=True)
    housing = _lines(shared / "california_housing" / "housing.csv.gz")
    _gzip("".join([housing[0], *housing[1::HOUSING_EVERY]]), HERE / "california_housing.csv.gz")
    _gzip("".join(_lines(shared / "titanic" / "train.csv")), HERE / "titanic_train.csv.gz")
    fraud = _lines(shared / "creditcard_fraud_sample" / "creditcard_sample.csv.gz")
    keep, left = [], {"1": FRAUDS, "0": NORMALS}
    for row in fraud[1:]:  # the first FRAUDS / NORMALS of each class, in file order
        label = row.rstrip().rpartition(",")[2]
        if left.get(label, 0) > 0:
            left[label] -= 1
            keep.append(row)
    _gzip("".join([fraud[0], *keep]), HERE / "creditcard_fraud.csv.gz")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
