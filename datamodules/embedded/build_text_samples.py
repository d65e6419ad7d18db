"""Rebuild the embedded text samples from the full copies in ../shared/data (run once by maintainers).

    python datamodules/embedded/build_text_samples.py ../shared/data

Writes ``text/`` beside this file: TREC and rt-polarity complete (they are small), and a
balanced slice of the IMDB sample. Byte-identical contents (latin-1 rt-polarity bytes are
kept as they are), gzip without name or time stamp, so the output is deterministic.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

HERE = Path(__file__).parent / "text"
IMDB_PER_CLASS = 200


def _gzip(data: bytes, path: Path) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(data)


def main(shared: Path) -> None:
    HERE.mkdir(exist_ok=True)
    for name in ("train_5500.label", "TREC_10.label"):
        _gzip((shared / "trec" / name).read_bytes(), HERE / f"trec_{name}.gz")
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        _gzip((shared / "rt_polarity" / name).read_bytes(), HERE / f"{name}.gz")
    rows = list(csv.reader(io.StringIO(gzip.open(shared / "imdb_sample" / "imdb_small.csv.gz", "rt", encoding="utf-8").read())))
    header, rows = rows[0], rows[1:]
    keep, seen = [], {"positive": 0, "negative": 0}
    for r in rows:  # first IMDB_PER_CLASS of each class, in file order
        if seen[r[2]] < IMDB_PER_CLASS:
            seen[r[2]] += 1
            keep.append(r[1:])
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header[1:])
    w.writerows(keep)
    _gzip(out.getvalue().encode("utf-8"), HERE / "imdb_slice.csv.gz")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
