"""Readers for parallel corpora. Every reader returns ``{split: (sources, targets)}`` of aligned
sentence lists, in the file's own language order (``first, second``); the datamodule picks the direction.

Layouts (``path``):

- **aligned files** (Multi30k, WMT): a folder with ``train.<lang>`` (optionally ``.gz``) per language,
  ``val.*`` / ``dev.*`` / ``valid.*`` / ``validation.*`` and ``test.*`` (``test2016.*`` too); line i
  of one language is the translation of line i of the other;
- **one table of pairs** (manythings / Tatoeba ``fra.txt``: ``English<TAB>French[<TAB>attribution]``,
  no header), ``.tsv`` / ``.txt`` / ``.csv`` (optionally ``.gz``); a folder of ``train.tsv`` /
  ``dev.tsv`` / ``test.tsv`` tables too.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

from datamodules.splits import canonical_split
from labcore.errors import DataSourceError

Pairs = tuple[list[str], list[str]]
ParallelSplits = dict[str, Pairs]
TABLE_SUFFIXES = (".tsv", ".txt", ".csv")


def _read_text(path: Path) -> str:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataSourceError(f"{path}: not UTF-8 text; convert it (iconv -t utf-8) and pass it again") from None


def _lines(path: Path) -> list[str]:
    # split on "\n" only (str.splitlines also breaks on U+2028 and friends, which can sit inside a sentence)
    lines = [ln.rstrip("\r") for ln in _read_text(path).split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _stem(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name


def read_table(path: Path) -> Pairs:
    """A TSV / CSV of pairs: the first two columns (a third, e.g. Tatoeba's attribution, is ignored)."""
    text = _read_text(path)
    delimiter = "," if _stem(path).endswith(".csv") else "\t"
    rows = list(
        csv.reader(
            io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
        )
    )
    firsts, seconds, bad = [], [], 0
    for row in rows:
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2:
            bad += 1
            continue
        firsts.append(row[0].strip())
        seconds.append(row[1].strip())
    if bad:
        raise DataSourceError(
            f"{path}: {bad} of {bad + len(firsts)} rows have no second column; pass a table of "
            f"'source<TAB>target' rows (or a folder of aligned train.<lang> files)"
        )
    if not firsts:
        raise DataSourceError(f"{path}: no sentence pairs; pass a table of 'source<TAB>target' rows")
    return firsts, seconds


def _aligned_files(folder: Path) -> dict[str, dict[str, Path]]:
    """``{split: {lang: file}}`` for files named ``<split>.<lang>[.gz]`` (split aliases allowed)."""
    out: dict[str, dict[str, Path]] = {}
    for p in sorted(folder.iterdir()):
        m = re.fullmatch(r"([A-Za-z_]+?)(\d{4})?\.([A-Za-z_-]{2,8})", _stem(p))
        if not p.is_file() or m is None or m.group(3) in ("tsv", "txt", "csv"):
            continue
        split = canonical_split(m.group(1))
        if split is not None:
            out.setdefault(split, {})[m.group(3)] = p
    return out


def read_aligned(folder: Path, first: str, second: str) -> ParallelSplits:
    """``<split>.<first>`` / ``<split>.<second>`` files: one sentence a line, line i aligned with line i."""
    files = _aligned_files(folder)
    if not files:
        return {}
    out: ParallelSplits = {}
    for split, langs in files.items():
        missing = [lang for lang in (first, second) if lang not in langs]
        if missing:
            raise DataSourceError(
                f"{folder}: {split} has files for {sorted(langs)} but not {missing}; pass "
                f"--data.init_args.src_lang / tgt_lang matching the file suffixes"
            )
        a, b = _lines(langs[first]), _lines(langs[second])
        if len(a) != len(b):
            raise DataSourceError(
                f"{folder}: {langs[first].name} has {len(a)} lines but {langs[second].name} has {len(b)}; "
                f"aligned files need one sentence a line in both"
            )
        out[split] = ([s.strip() for s in a], [s.strip() for s in b])
    return out


def read_parallel_path(location: Path, first: str, second: str) -> ParallelSplits:
    """Whatever ``location`` holds: one table (``all``), a folder of split tables, or aligned files."""
    if location.is_file():
        return {"all": read_table(location)}
    aligned = read_aligned(location, first, second)
    if aligned:
        return aligned
    tables = {}
    for p in sorted(location.iterdir()):
        stem = _stem(p)
        if p.is_file() and stem.endswith(TABLE_SUFFIXES):
            split = canonical_split(stem.rsplit(".", 1)[0])
            if split is not None:
                tables[split] = read_table(p)
            elif len([q for q in location.iterdir() if _stem(q).endswith(TABLE_SUFFIXES)]) == 1:
                tables["all"] = read_table(p)
    if not tables:
        raise DataSourceError(
            f"{location}: no parallel data found; pass a folder with train.{first} / train.{second} "
            f"(and val/dev, test) files, or one 'source<TAB>target' table"
        )
    return tables


def read_parallel_hub(hub_id: str, first: str, second: str, cache_dir: Path) -> ParallelSplits:
    """An HF hub data set with one column per language (e.g. ``bentrevett/multi30k``: ``en``, ``de``)
    or a ``translation`` column of ``{lang: text}`` dicts (WMT sets)."""
    from datasets import load_dataset

    ds = load_dataset(hub_id, cache_dir=str(cache_dir))
    out: ParallelSplits = {}
    for name, part in ds.items():
        split = canonical_split(name)
        if split is None:
            continue
        if "translation" in part.column_names:
            rows = part["translation"]
            out[split] = ([r[first] for r in rows], [r[second] for r in rows])
        elif first in part.column_names and second in part.column_names:
            out[split] = (list(part[first]), list(part[second]))
        else:
            raise DataSourceError(
                f"{hub_id}: columns {part.column_names} hold no {first!r} / {second!r}; "
                f"pass --data.init_args.src_lang / tgt_lang as the data set names them"
            )
    return out
