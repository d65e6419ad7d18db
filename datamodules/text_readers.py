"""Readers for text-classification data: TREC, rt-polarity, CSV / TSV / JSONL, the HF hub.

Every reader returns ``{split: (texts, labels)}`` with label *names* (strings); the datamodule
turns names into ids. Splits a source does not have (``val``, often ``test``) are left out and
made by the datamodule's seeded split.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from datamodules.sources import EMBEDDED_DIR
from datamodules.splits import canonical_split
from labcore import log
from labcore.errors import DataSourceError

Splits = dict[str, tuple[list[str], list[str]]]


@dataclass(frozen=True)
class TextFileOptions:
    """How the user's files are read: ``--data.init_args.files.<field>``, in YAML ``files: {format: csv}``.

    Args:
        format: ``trec``, ``rt_polarity``, ``csv`` / ``tsv`` (header line) or ``jsonl`` (default: guessed
            from the names).
        text_column / label_column: the columns of ``csv`` / ``tsv`` / ``jsonl`` files.
        encoding: the text encoding of ``path`` (csv / tsv / jsonl) and ``predict_file`` files.
    """

    format: Literal["csv", "tsv", "jsonl", "trec", "rt_polarity"] | None = None
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"


DEFAULT_FILES = TextFileOptions()
TEXT_DIR = EMBEDDED_DIR / "text"
SENTIMENT = ["negative", "positive"]
# Every binary sentiment set uses these names, so a checkpoint trained on one tests on another.
_SENTIMENT_ALIASES = {
    "0": "negative",
    "1": "positive",
    "neg": "negative",
    "pos": "positive",
    "negative": "negative",
    "positive": "positive",
}
TREC_COARSE = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _read_bytes(path: Path) -> bytes:
    try:
        return gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        reason = "truncated" if isinstance(err, EOFError) else str(err) or type(err).__name__
        raise DataSourceError(f"{path}: cannot read it ({reason}); pass a complete, uncorrupted copy") from None


def read_text(path: Path, encoding: str = "utf-8", option: str = "--data.init_args.files.encoding") -> str:
    """The file's text (gunzipped if ``.gz``); bytes that are not ``encoding`` are a one-line error
    naming the file, the position and ``option``."""
    raw = _read_bytes(path)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataSourceError(
            f"{path} is not {encoding} text (byte 0x{raw[err.start]:02x} on line {line}); pass {option} with the "
            f"file's encoding, e.g. {option} latin-1 (or cp1252)"
        ) from None


def _lines(text: str) -> list[str]:
    # Split on "\n" only: latin-1 rt-polarity holds U+0085, which str.splitlines() breaks on.
    return [ln.rstrip("\r") for ln in text.split("\n") if ln.strip()]


# --- TREC -------------------------------------------------------------------------------------
def parse_trec_line(line: str, fine: bool = False) -> tuple[str, str]:
    """``"DESC:manner How did serfdom develop ?"`` -> ``("DESC", "How did serfdom develop ?")``.

    The label is the text before the first space; the question is everything after it, so the
    fine label never stays inside the text (R4 left it there and its 99.5% came from that leak).
    ``fine=True`` gives the 50-class label ``DESC:manner``.
    """
    label, sep, text = line.strip().partition(" ")
    coarse, colon, fine_label = label.partition(":")
    if not sep or not colon or not coarse.isupper() or not fine_label:
        raise DataSourceError(
            f"TREC: line {line[:60]!r} is not 'COARSE:fine question'; "
            "pass --data.init_args.files.format to read another layout"
        )
    return (label if fine else coarse), text.strip()


def read_trec_file(path: Path, fine: bool = False) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for line in _lines(read_text(path, "latin-1" if _is_latin1(path) else "utf-8")):
        label, text = parse_trec_line(line, fine)
        texts.append(text)
        labels.append(label)
    return texts, labels


def _is_latin1(path: Path) -> bool:
    raw = _read_bytes(path)
    try:
        raw.decode("utf-8")
        return False
    except UnicodeDecodeError:  # the original UIUC release has one latin-1 byte
        return True


def read_trec_dir(root: Path, fine: bool = False) -> Splits:
    """A folder with ``train_5500.label`` (and ``TREC_10.label`` as the test set), or one file."""
    if root.is_file():
        return {"train": read_trec_file(root, fine)}
    train = _first(root, ["train_5500.label", "train_5500.label.gz", "trec_train_5500.label.gz"])
    test = _first(root, ["TREC_10.label", "TREC_10.label.gz", "trec_TREC_10.label.gz"])
    if train is None:
        raise DataSourceError(
            f"TREC: no train_5500.label in {root}; pass the folder holding train_5500.label and TREC_10.label"
        )
    out = {"train": read_trec_file(train, fine)}
    if test is not None:
        out["test"] = read_trec_file(test, fine)
    return out


# --- rt-polarity --------------------------------------------------------------------------------
def read_rt_polarity_dir(root: Path) -> Splits:
    """``rt-polarity.pos`` / ``rt-polarity.neg`` (latin-1, one snippet a line)."""
    pos = _first(root, ["rt-polarity.pos", "rt-polarity.pos.gz"])
    neg = _first(root, ["rt-polarity.neg", "rt-polarity.neg.gz"])
    if pos is None or neg is None:
        raise DataSourceError(
            f"rt_polarity: no rt-polarity.pos / rt-polarity.neg in {root}; pass the folder holding both"
        )
    texts_pos = _lines(read_text(pos, "latin-1"))
    texts_neg = _lines(read_text(neg, "latin-1"))
    return {"all": (texts_neg + texts_pos, ["negative"] * len(texts_neg) + ["positive"] * len(texts_pos))}


# --- CSV / TSV / JSONL ------------------------------------------------------------------------
def _jsonl_rows(path: Path, content: str) -> list[dict]:
    rows = []
    for number, line in enumerate(content.split("\n"), start=1):  # file line numbers, blank lines counted
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataSourceError(
                f"{path}: line {number} is not valid JSON ({err.msg} at column {err.colno}); fix or delete that line"
            ) from None
        if not isinstance(row, dict):
            raise DataSourceError(
                f"{path}: line {number} is a JSON {type(row).__name__}, not an object such as "
                '{"text": ..., "label": ...}; fix or delete that line'
            )
        rows.append(row)
    return rows


def _delimited_rows(path: Path, content: str, fmt: str, text_column: str) -> list[dict]:
    delimiter = "\t" if fmt == "tsv" else ","
    rows = list(csv.DictReader(io.StringIO(content), delimiter=delimiter))
    header = content.split("\n", 1)[0]
    if rows and text_column not in rows[0]:
        other, other_fmt = (",", "csv") if fmt == "tsv" else ("\t", "tsv")
        if other in header and delimiter not in header:
            kind = "comma" if other == "," else "tab"
            raise DataSourceError(
                f"{path}: the header {header[:60]!r} is {kind}-separated, not {fmt}; "
                f"pass --data.init_args.files.format {other_fmt}"
            )
    return rows


def read_table(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str,
    labels_optional: bool = False,
    encoding: str = "utf-8",
) -> tuple[list[str], list[str] | None]:
    """Rows of a CSV / TSV (header line) or JSONL file; ``text_column`` / ``label_column`` name the fields.
    ``labels_optional``: a file without the label column gives ``None`` labels instead of an error.
    Rows with an empty text are left out, with a warning that counts them."""
    content = read_text(path, encoding)
    rows = _jsonl_rows(path, content) if fmt == "jsonl" else _delimited_rows(path, content, fmt, text_column)
    if not rows:
        raise DataSourceError(f"{path}: no rows; pass a {fmt} file with a header and at least one row")
    columns = list(rows[0].keys())
    if labels_optional and text_column in rows[0] and label_column not in rows[0]:
        return [str(r[text_column]) for r in rows], None
    for col, opt in ((text_column, "text_column"), (label_column, "label_column")):
        if col not in rows[0]:
            raise DataSourceError(f"{path}: no column {col!r} (columns: {columns}); pass --data.init_args.files.{opt}")
    kept = [r for r in rows if r.get(text_column) is not None and str(r[text_column]).strip()]
    if len(kept) < len(rows):
        log.warn(f"{path}: {len(rows) - len(kept)} of {len(rows)} rows have an empty {text_column!r}; left out")
    if not kept:
        raise DataSourceError(f"{path}: every {text_column!r} is empty; pass --data.init_args.files.text_column")
    return [str(r[text_column]) for r in kept], [str(r[label_column]) for r in kept]


def read_table_path(root: Path, fmt: str, text_column: str, label_column: str, encoding: str = "utf-8") -> Splits:
    """One file (all data, split by seed) or a folder with ``train`` / ``val`` / ``test`` files
    (``dev``, ``validation`` and ``valid`` name the validation split too, e.g. GLUE's ``dev.tsv``).
    A test file without labels (GLUE's) is left out, with a warning: test is then carved from train."""
    if root.is_file():
        return {"all": read_table(root, fmt, text_column, label_column, encoding=encoding)}
    files: dict[str, Path] = {}
    for f in sorted(root.iterdir()):
        stem = f.name.removesuffix(".gz")
        split = canonical_split(stem.removesuffix(f".{fmt}")) if stem.endswith(f".{fmt}") else None
        if split is None:
            continue
        if split in files:
            raise DataSourceError(
                f"{root}: both {files[split].name} and {f.name} are the {split} split; keep one of them"
            )
        files[split] = f
    if not files:
        raise DataSourceError(
            f"{root}: no train.{fmt} / val.{fmt} (dev.{fmt}) / test.{fmt}; pass a file or such a folder"
        )
    if "train" not in files:
        raise DataSourceError(f"{root}: no train.{fmt}; pass a file or a folder with train.{fmt}")
    out = {}
    for split, f in files.items():
        texts, labels = read_table(f, fmt, text_column, label_column, split == "test", encoding)
        if labels is None:
            log.warn(
                f"{f}: no {label_column!r} column (an unlabelled test set); left out, the test split is carved "
                f"from the training data instead"
            )
            continue
        out[split] = (texts, labels)
    return out


def guess_format(path: Path) -> str:
    """``trec``, ``rt_polarity``, ``csv``, ``tsv`` or ``jsonl`` from the path's names."""
    names = [path.name] if path.is_file() else [p.name for p in path.iterdir()]
    joined = " ".join(names)
    if "rt-polarity" in joined:
        return "rt_polarity"
    if ".label" in joined:
        return "trec"
    for fmt in ("jsonl", "tsv", "csv"):
        if f".{fmt}" in joined:
            return fmt
    raise DataSourceError(
        f"{path}: cannot tell the format; pass --data.init_args.files.format (csv, tsv, jsonl, trec, rt_polarity)"
    )


def normalise_sentiment(labels: list[str]) -> list[str]:
    """``0/1``, ``neg/pos``, ``negative/positive`` -> ``negative/positive``; others unchanged."""
    if set(labels) <= set(_SENTIMENT_ALIASES):
        return [_SENTIMENT_ALIASES[x] for x in labels]
    return labels


# --- embedded -------------------------------------------------------------------------------------
def read_embedded(dataset: str, fine: bool = False) -> Splits:
    if dataset == "trec":
        return read_trec_dir(TEXT_DIR, fine)
    if dataset in ("rt_polarity", "rotten_tomatoes"):
        return read_rt_polarity_dir(TEXT_DIR)
    if dataset == "imdb":
        texts, labels = read_table(TEXT_DIR / "imdb_slice.csv.gz", "csv", "review", "sentiment")
        return {"all": (texts, normalise_sentiment(labels))}
    raise DataSourceError(f"{dataset}: no embedded copy; use --data.init_args.source path or download")


# --- HF hub -----------------------------------------------------------------------------------
HUB = {  # dataset -> (hub id, text column, label column, {hub split: our split})
    "imdb": ("stanfordnlp/imdb", "text", "label", {"train": "train", "test": "test"}),
    "sst2": ("stanfordnlp/sst2", "sentence", "label", {"train": "train", "validation": "val"}),
    "rotten_tomatoes": (
        "cornell-movie-review-data/rotten_tomatoes",
        "text",
        "label",
        {"train": "train", "validation": "val", "test": "test"},
    ),
    "trec": ("CogComp/trec", "text", "coarse_label", {"train": "train", "test": "test"}),
}


def read_hub(dataset: str, cache_dir: Path, fine: bool = False) -> Splits:
    if dataset not in HUB:
        raise DataSourceError(
            f"{dataset}: no hub download; choose one of {sorted(HUB)} or use --data.init_args.source path"
        )
    from datasets import load_dataset

    hub_id, text_col, label_col, splits = HUB[dataset]
    if dataset == "trec" and fine:
        label_col = "fine_label"
    ds = load_dataset(hub_id, cache_dir=str(cache_dir))
    out = {}
    for hub_split, ours in splits.items():
        part = ds[hub_split]
        names = part.features[label_col].names if hasattr(part.features[label_col], "names") else None
        labels = [names[i] if names else str(i) for i in part[label_col]]  # TREC: ABBR.., or ABBR:abb.. when fine
        out[ours] = (list(part[text_col]), normalise_sentiment(labels))
    return out


def _first(root: Path, names: list[str]) -> Path | None:
    for n in names:
        if (root / n).exists():
            return root / n
    return None
