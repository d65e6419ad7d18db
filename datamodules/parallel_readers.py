"""Readers for parallel corpora. Every reader returns ``{split: (sources, targets)}`` of aligned
sentence lists, in the file's own language order (``first, second``); the datamodule picks the direction.

Layouts (``path``):

- **aligned files** (Multi30k, WMT): a folder with ``train.<lang>`` (optionally ``.gz``) per language,
  ``val.*`` / ``dev.*`` / ``valid.*`` / ``validation.*`` and ``test.*`` (``test2016.*`` and the official
  Multi30k ``test_2016_flickr.*`` / ``test_2017_flickr.*`` / ``test_2017_mscoco.*`` too: ``test_set``
  picks one); line i of one language is the translation of line i of the other;
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
from labcore import log
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
    while lines and not lines[-1].strip():  # blank lines at the end are no sentences (nor a misalignment)
        lines.pop()
    return lines


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


# <split>[_]<year>[_<set>].<lang>: train.de, val.en, dev.en, test2016.de, test_2016_flickr.de, test_2017_mscoco.fr
ALIGNED_NAME = re.compile(
    r"(?P<split>[A-Za-z]+?)_?(?P<year>\d{4})?(?:_(?P<set>[A-Za-z0-9]+))?\.(?P<lang>[A-Za-z_-]{2,8})"
)
DEFAULT_TEST_SETS = ("test_2016_flickr", "test2016", "test")  # Multi30k's official test set first


def _aligned_files(
    folder: Path, langs: tuple[str, ...] = ()
) -> tuple[dict[str, dict[str, dict[str, Path]]], list[str]]:
    """``{split: {file name without language: {lang: file}}}`` for files named like ``ALIGNED_NAME``
    (split aliases allowed), and the names of files in one of ``langs`` that match no split."""
    out: dict[str, dict[str, dict[str, Path]]] = {}
    unmatched = []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        m = ALIGNED_NAME.fullmatch(_stem(p))
        if m is None or m.group("lang") in ("tsv", "txt", "csv"):
            if "." in _stem(p) and _stem(p).rsplit(".", 1)[1] in langs:
                unmatched.append(p.name)
            continue
        split = canonical_split(m.group("split"))
        if split is None:
            if m.group("lang") in langs:
                unmatched.append(p.name)
            continue
        name = _stem(p).rsplit(".", 1)[0]
        out.setdefault(split, {}).setdefault(name, {})[m.group("lang")] = p
    return out, unmatched


def _choose(folder: Path, split: str, sets: dict[str, dict[str, Path]], wanted: str | None) -> str:
    """The one file set of ``split`` to read: the only one, ``wanted``, or (test) the official default."""
    names = sorted(sets)
    if wanted is not None and split == "test":
        if wanted not in sets:
            raise DataSourceError(
                f"{folder}: no test set {wanted!r} (found {', '.join(names)}); pass one of them as "
                f"--data.init_args.test_set"
            )
        return wanted
    if len(names) == 1:
        return names[0]
    if split == "test":
        default = next((d for d in DEFAULT_TEST_SETS if d in sets), None)
        if default is not None:
            return default
        raise DataSourceError(
            f"{folder}: several test sets ({', '.join(names)}); choose one with --data.init_args.test_set NAME"
        )
    raise DataSourceError(f"{folder}: several {split} files ({', '.join(names)}); keep one of them in the folder")


def read_aligned(folder: Path, first: str, second: str, test_set: str | None = None) -> ParallelSplits:
    """``<split>.<first>`` / ``<split>.<second>`` files: one sentence a line, line i aligned with line i.

    Several test sets (Multi30k's ``test_2016_flickr``, ``test_2017_flickr``, ``test_2017_mscoco``):
    ``test_set`` names the one to read (default ``test_2016_flickr``); files in ``first`` / ``second``
    whose names match no split are named in a warning."""
    files, unmatched = _aligned_files(folder, (first, second))
    if unmatched:
        log.warn(
            f"{folder}: {len(unmatched)} files match no split and are not read: {', '.join(unmatched)} "
            f"(split files are named train / val|dev|valid / test[YEAR][_SET] .{first} / .{second})"
        )
    if not files:
        return {}
    out: ParallelSplits = {}
    for split, sets in files.items():
        name = _choose(folder, split, sets, test_set)
        if split == "test" and len(sets) > 1:
            others = ", ".join(n for n in sorted(sets) if n != name)
            log.info(f"{folder}: test set {name} (also found: {others}; choose with --data.init_args.test_set)")
        langs = sets[name]
        missing = [lang for lang in (first, second) if lang not in langs]
        if missing:
            raise DataSourceError(
                f"{folder}: {name} has files for {sorted(langs)} but not {missing}; pass "
                f"--data.init_args.src_lang / tgt_lang matching the file suffixes"
            )
        a, b = _lines(langs[first]), _lines(langs[second])
        if len(a) != len(b):
            raise DataSourceError(
                f"{folder}: {langs[first].name} has {len(a)} lines but {langs[second].name} has {len(b)}; "
                f"aligned files need one sentence a line in both"
            )
        out[split] = ([s.strip() for s in a], [s.strip() for s in b])
    if test_set is not None and "test" not in out:
        raise DataSourceError(
            f"{folder}: test_set={test_set!r} but no test files; pass a folder with {test_set}.{first}"
        )
    return out


def read_parallel_path(location: Path, first: str, second: str, test_set: str | None = None) -> ParallelSplits:
    """Whatever ``location`` holds: one table (``all``), a folder of split tables, or aligned files."""
    if location.is_file():
        return {"all": read_table(location)}
    aligned = read_aligned(location, first, second, test_set)
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
