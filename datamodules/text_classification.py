"""LightningDataModule for text classification: sentiment sets, TREC, your own CSV/TSV/JSONL."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader

from datamodules.base import LabDataModule, seeded_split, split_indices
from datamodules.checks import at_least, empty_split, fractions
from datamodules.resumable import ResumableLoader
from datamodules.tensor_dataset import dict_collate
from datamodules.text_batching import BucketBatchSampler, EncodedTextDataset
from datamodules.text_checkpoint import (
    TOKENIZER_OPTIONS,
    checkpoint_state,
    flat_tokenizer_options,
    reconcile,
    tokenizer_fields,
)
from datamodules.text_dedup import drop_duplicates, overlap
from datamodules.text_readers import (
    DEFAULT_FILES,
    SENTIMENT,
    TREC_COARSE,
    Splits,
    TextFileOptions,
    guess_format,
    normalise_sentiment,
    read_embedded,
    read_hub,
    read_rt_polarity_dir,
    read_table_path,
    read_text,
    read_trec_dir,
)
from datamodules.text_tokenizer import (
    DEFAULT_TOKENIZER,
    TextEncoder,
    TokenizerOptions,
    build_vocab,
    load_pretrained,
    stop_word_list,
)
from datamodules.toy_text import toy_pairs
from labcore import log
from labcore.errors import DataSourceError, LabError

Dataset = Literal["rt_polarity", "trec", "imdb", "sst2", "rotten_tomatoes", "toy", "custom"]
SENTIMENT_SETS = {"rt_polarity", "imdb", "sst2", "rotten_tomatoes"}
EMBEDDED_SETS = {"rt_polarity", "trec", "imdb"}
HOW_TO_GET = {
    "rt_polarity": "pass --data.init_args.path DIR holding rt-polarity.pos and rt-polarity.neg",
    "trec": "pass --data.init_args.path DIR holding train_5500.label and TREC_10.label",
    "imdb": "pass --data.init_args.path FILE.csv "
    "(--data.init_args.files.text_column review --data.init_args.files.label_column sentiment)",
}
__all__ = ["TextClassificationDataModule", "checkpoint_state"]


class TextClassificationDataModule(LabDataModule):
    """Texts and labels -> padded, length-bucketed batches of token ids.

    A batch is ``{"input_ids": N x L, "attention_mask": N x L, "lengths": N, "label": N}``.
    The data state (``LabDataModule``: saved in every checkpoint with the ``lab_data`` marker) is
    the tokenizer (own vocabulary or pretrained, with its options) and the class names, so
    ``predict --ckpt_path`` works on raw sentences on a machine without the training data:
    ``--data.init_args.predict_texts '["great film", "dull"]'`` or
    ``--data.init_args.predict_file texts.txt`` (one text a line).

    Args:
        dataset: ``rt_polarity`` (seeded 80/10/10), ``trec`` (train 5452 / official test 500),
            ``imdb``, ``sst2``, ``rotten_tomatoes``, ``toy`` (generated pairs, attention lab) or
            ``custom`` (your ``path``).
        files: how ``path`` is read (``TextFileOptions``: ``format``, ``text_column``, ``label_column``,
            ``encoding``). ``path`` (a base argument) is a file or folder: ``trec`` (``COARSE:fine question``
            lines), ``rt_polarity`` (``rt-polarity.pos/.neg``, latin-1), ``csv`` / ``tsv`` (header line) or
            ``jsonl``; the format is guessed from the names unless ``files.format`` says. A folder may hold
            ``train`` / ``val`` / ``test`` files; ``dev``, ``validation`` and ``valid`` are the validation split
            too (e.g. GLUE's ``dev.tsv``).
        trec_labels: ``coarse`` (6 classes) or ``fine`` (50, ``DESC:manner``).
        class_names: the classes in id order (default: from the data set, or sorted labels).
        tokenizer: ``TokenizerOptions``: ``kind`` (``vocab``: own vocabulary, built on the training split
            only; or ``pretrained``), ``pretrained`` (its name or path), ``max_length`` and the own
            vocabulary's ``lowercase`` / ``strip_html`` / ``min_freq`` / ``max_vocab_size`` / ``stop_words``.
        bucketing: batch texts of similar length (less padding).
        val_fraction / test_fraction / split / split_seed: how val / test are carved where the
            source has no such split (``split``: ``random`` (default), ``stratified`` or
            ``ordered``). ``max_train_samples`` / ``max_eval_samples``: seeded subsets.
            Duplicate texts in the training data are dropped before the split (first occurrence
            and its label kept, a warning with the count), so no text sits in both train and val;
            an official test set is kept whole and the notice counts its texts also in training.
            The order of training batches follows the training seed (``seed_everything``), not
            ``split_seed``: another training seed reshuffles, the split stays.
        from_checkpoint: take tokenizer and class names from this Lightning checkpoint (the
            CLI fills it from ``--ckpt_path``; for fine-tuning on another data set pass it).
            Tokenizer options left at their defaults are taken from the checkpoint; one set to
            another value that contradicts the checkpoint is an error (a value that differs
            from the default counts as set: the datamodule cannot see what was typed).
            Checkpoints of older versions (text state without the ``lab_data`` marker) load too.
        predict_texts / predict_file: what ``predict`` classifies (default: the test split; an
            empty list or file is an error, not a silent fallback to the test split).
        kwargs: the ``LabDataModule`` arguments: ``source`` (``auto`` | ``embedded`` | ``download`` (HF hub:
            imdb, sst2, trec, rotten_tomatoes) | ``path``), ``path``, ``data_dir``, ``split``, ``split_seed``,
            ``batch_size``, ``eval_batch_size``, ``num_workers``.
    """

    host = "huggingface.co"
    moved_options: ClassVar[dict[str, str]] = {
        "tokenizer": "tokenizer.kind",
        "pretrained_tokenizer": "tokenizer.pretrained",
        **{k: f"tokenizer.{k}" for k in ("max_length", "lowercase", "strip_html", "min_freq", "max_vocab_size")},
        "stop_words": "tokenizer.stop_words",
        **{k: f"files.{k}" for k in ("format", "text_column", "label_column", "encoding")},
    }
    # model_info() keys only some nets take (the CLI warns about other offered keys no argument takes)
    optional_model_info = frozenset({"pad_index", "tokenizer", "class_names"})

    def __init__(
        self,
        dataset: Dataset = "rt_polarity",
        files: TextFileOptions = DEFAULT_FILES,
        trec_labels: Literal["coarse", "fine"] = "coarse",
        class_names: list[str] | None = None,
        tokenizer: TokenizerOptions = DEFAULT_TOKENIZER,
        bucketing: bool = True,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        toy_size: int = 2000,
        predict_texts: list[str] | None = None,
        predict_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the ``LabDataModule`` arguments (``source``, ``path``, ``batch_size``, ...)."""
        self._dataset = dataset  # the name (text/<dataset>) is needed before the base is set up
        path, source = kwargs.get("path"), kwargs.get("source", "auto")
        # the user's own file is named by its path: the config's default dataset name would claim it is that set
        self._named_path = path if path and source in ("auto", "path") and dataset != "toy" else None
        tok_opts, file_opts = _options(TokenizerOptions, tokenizer), _options(TextFileOptions, files)
        at_least(self.name, 1, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples)
        at_least(self.name, 1, toy_size=toy_size)
        at_least(self.name, 1, **{"tokenizer.max_length": tok_opts.max_length, "tokenizer.min_freq": tok_opts.min_freq})
        fractions(self.name, val_fraction=val_fraction, test_fraction=test_fraction)
        _check_encoding(file_opts.encoding)
        if kwargs.get("on_device"):
            raise LabError(f"{self.name}: on_device is for in-memory tensor data; leave --data.init_args.on_device out")
        # from_checkpoint is read here, not by the base: older text checkpoints lack the lab_data marker
        from_checkpoint = kwargs.pop("from_checkpoint", None)
        super().__init__(**kwargs)
        # class_names is the model's hparam too (Lightning refuses differing duplicates): kept apart
        # hparams (what loggers and checkpoints get) hold the groups as plain dicts: weights_only loads them
        tokenizer, files = asdict(tok_opts), asdict(file_opts)
        self.save_hyperparameters(ignore=["class_names"])
        # the flat view the reading code and the checkpoint's tokenizer_options use (old option names)
        self.hp = AttributeDict(
            {k: v for k, v in self.hparams.items() if k not in ("tokenizer", "files")}
            | flat_tokenizer_options(tok_opts)
            | files
        )
        self.from_checkpoint = from_checkpoint
        self._splits: dict[str, tuple[list[str], np.ndarray]] | None = None
        self._class_names: list[str] | None = list(class_names) if class_names else None
        self.encoder: TextEncoder | None = None
        self._hub: Splits | None = None
        self.test_overlap: int | None = None  # test texts that also occur in the training data
        if self.from_checkpoint:
            self._restore(checkpoint_state(self.from_checkpoint))
            log.info(f"{self.name}: tokenizer and class names restored from {self.from_checkpoint}")

    # --- source ------------------------------------------------------------------------------
    @property
    def name(self) -> str:  # type: ignore[override]
        """``text/<dataset>``, or ``text:<path>`` for data read from ``path``."""
        return f"text:{self._named_path}" if self._named_path else f"text/{self._dataset}"

    @property
    def how_to_get(self) -> str:  # type: ignore[override]
        return HOW_TO_GET.get(self._dataset, "pass --data.init_args.path FILE")

    def _full_copy(self) -> Path | None:
        p = self.data_dir / self.hp.dataset
        return p if self.hp.dataset != "custom" and p.exists() else None

    def download(self) -> Path:
        self._hub = read_hub(self.hp.dataset, self.data_dir / "hf", self.hp.trec_labels == "fine")
        return self.data_dir / "hf"

    def resolve(self) -> tuple[str, Path | None]:
        """The base's resolution, with the text sets' own cases: ``toy`` is generated, ``custom``
        needs a ``path``, and only rt_polarity, trec and imdb have an embedded copy."""
        hp = self.hp
        if hp.dataset == "toy":
            self.resolved_source = "embedded"
            return "embedded", None
        if self.resolved_source is None:
            if hp.dataset == "custom" and not self.path:
                raise DataSourceError(
                    f"{self.name}: pass --data.init_args.path FILE (csv, tsv, jsonl, trec or rt_polarity)"
                )
            if hp.dataset not in EMBEDDED_SETS and self.source == "embedded":
                raise DataSourceError(f"{self.name}: no embedded copy; use --data.init_args.source download or path")
        source, location = super().resolve()
        if source == "embedded" and hp.dataset not in EMBEDDED_SETS:
            raise DataSourceError(f"{self.name}: not found and no embedded copy; {self.how_to_get}")
        return source, location

    # --- reading -----------------------------------------------------------------------------
    def _read(self) -> Splits:
        hp = self.hp
        fine = hp.trec_labels == "fine"
        source, location = self.resolve()
        if hp.dataset == "toy":
            return {"all": toy_pairs(hp.toy_size, seed=0)}
        if source == "embedded":
            return read_embedded(hp.dataset, fine)
        if source == "download":
            if self._hub is None:  # resolved on another rank (prepare_data): read the hub cache here
                self.download()
            return self._hub
        fmt = hp.format or guess_format(location)
        if fmt == "trec":
            return read_trec_dir(location, fine)
        if fmt == "rt_polarity":
            return read_rt_polarity_dir(location if location.is_dir() else location.parent)
        splits = read_table_path(location, fmt, hp.text_column, hp.label_column, hp.encoding)
        return {k: (t, normalise_sentiment(y) if hp.dataset in SENTIMENT_SETS else y) for k, (t, y) in splits.items()}

    def _load_splits(self) -> dict[str, tuple[list[str], np.ndarray]]:
        if self._splits is not None:
            return self._splits
        raw = self._read()
        pool = raw.get("train") or raw.get("all")
        if pool is None:
            raise DataSourceError(f"{self.name}: no training texts found; pass a file or a folder with train data")
        names = self._class_names or self._default_class_names(pool[1])
        self._class_names = names
        index = {c: i for i, c in enumerate(names)}
        ids = {}
        for split, (texts, labels) in raw.items():
            unknown = sorted(set(labels) - set(index))
            if unknown:
                raise DataSourceError(
                    f"{self.name}: labels {unknown[:5]} in the {split} data are not in class_names "
                    f"{names[:8]}; pass --data.init_args.class_names with every class"
                )
            ids[split] = (list(texts), np.array([index[y] for y in labels], dtype=np.int64))
        pool_name = "train" if "train" in ids else "all"
        if self.hp.dataset != "toy":  # generated pairs repeat by design (drawn i.i.d.); real data must not leak
            ids[pool_name] = self._drop_duplicates(pool_name, *ids[pool_name])
        self.test_overlap = overlap(ids["test"][0], ids[pool_name][0]) if "test" in ids else 0
        self._splits = self._split(ids)
        classes = sorted(set(self._splits["train"][1].tolist()))
        if len(classes) < 2 and self.hp.dataset != "toy":
            where = self.path or self.name
            raise DataSourceError(
                f"{where}: the training data has only one class ({[names[c] for c in classes]}); a classifier needs "
                f"two or more: pass data with at least two labels (or check --data.init_args.files.label_column)"
            )
        return self._splits

    def _drop_duplicates(self, split: str, texts: list[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
        texts, labels, dropped, conflicting = drop_duplicates(texts, labels)
        if dropped:
            log.warn(
                f"{self.name}: {dropped} duplicate texts in the {split} data dropped before splitting (first "
                f"occurrence kept"
                + (
                    f"; {conflicting} texts had differing labels, the first occurrence's label kept"
                    if conflicting
                    else ""
                )
                + ")"
            )
        return texts, labels

    def _default_class_names(self, labels: list[str]) -> list[str]:
        if self.hp.dataset in SENTIMENT_SETS or self.hp.dataset == "toy":
            return list(SENTIMENT)
        if self.hp.dataset == "trec" and self.hp.trec_labels == "coarse":
            return list(TREC_COARSE)
        return sorted(set(labels))

    def _split(self, data: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, tuple[list[str], np.ndarray]]:
        hp = self.hp
        pool = data.get("train") or data["all"]
        # test before val: the same layout (and so the same split) as before the base existed
        held = {
            **({} if "test" in data else {"test": hp.test_fraction}),
            **({} if "val" in data else {"val": hp.val_fraction}),
        }
        parts = split_indices(len(pool[1]), held, self.split, self.split_seed, labels=pool[1])
        out = {s: data[s] if s in data else _take(pool, parts[s]) for s in ("test", "val")}
        train_idx = parts["train"]
        if hp.max_train_samples is not None:
            train_idx = train_idx[: hp.max_train_samples]
        out["train"] = _take(pool, train_idx)
        if hp.max_eval_samples is not None:
            for s in ("val", "test"):
                keep = seeded_split(len(out[s][1]), [], self.split_seed + 1)[0][: hp.max_eval_samples]
                out[s] = _take(out[s], keep)
        return out

    # --- tokenizer: the data state ----------------------------------------------------------
    def _build_encoder(self, train_texts: list[str] | None) -> TextEncoder:
        hp = self.hp
        if hp.tokenizer == "pretrained":
            tok, pad, resolved = load_pretrained(hp.pretrained_tokenizer)
            return TextEncoder("pretrained", tok, pad, hp.max_length, name=resolved)
        tok = build_vocab(train_texts, hp.min_freq, hp.max_vocab_size, hp.lowercase, hp.strip_html)
        return TextEncoder("vocab", tok, 0, hp.max_length, stop_word_list(hp.stop_words))

    def fit_state(self, train: list[str] | None) -> dict[str, Any]:
        """The tokenizer (own vocabulary: fitted on the training texts ``train`` only) and the class names."""
        self.encoder = self._build_encoder(train)
        return {
            "class_names": self.class_names,
            "encoder": self.encoder.state(),
            "dataset": self.hp.dataset,
            "tokenizer_options": {k: self.hp[k] for k in TOKENIZER_OPTIONS},
        }

    def _ensure_encoder(self) -> TextEncoder:
        if self.encoder is None:
            # a pretrained tokenizer needs no data (its class names may, read in fit_state)
            train = None if self.has_state or self.hp.tokenizer == "pretrained" else self._load_splits()["train"][0]
            state = self.fitted_state(train)
            if self.encoder is None:
                self.encoder = TextEncoder.from_state(state["encoder"])
        return self.encoder

    def _restore(self, state: dict[str, Any]) -> None:
        """Take tokenizer and class names from a checkpoint's text state (either format)."""
        reconcile(self.hp, flat_tokenizer_options(DEFAULT_TOKENIZER), state, self.from_checkpoint or "the checkpoint")
        self.hparams["tokenizer"] = tokenizer_fields(self.hp)
        names = list(state["class_names"])
        if self._splits is not None and self._class_names != names:
            raise LabError(
                f"the checkpoint's classes {names[:8]} differ from the data's {self._class_names[:8]}; "
                f"pass data with the same classes (or --data.init_args.class_names)"
            )
        self._class_names = names
        same = self.has_state and self.data_state.get("encoder") == state["encoder"]
        super().load_state_dict(state)
        if not same or self.encoder is None:
            self.encoder = TextEncoder.from_state(state["encoder"])
            self.datasets = {}  # encode again with the restored tokenizer

    # --- what the model is told (cli.py fills arguments of these names) -----------------------
    @property
    def class_names(self) -> list[str]:
        if self._class_names is None:
            self._load_splits()
        return list(self._class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def model_info(self) -> dict[str, Any]:
        enc = self._ensure_encoder()
        return {
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "vocab_size": enc.vocab_size,
            "pad_index": enc.pad_index,
            "tokenizer": enc.kind,
        }

    # --- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if stage == "predict" and self._predict_texts() is not None:
            return  # raw texts only: nothing of the training data is needed
        self._load_splits()
        self._ensure_encoder()
        if stage in ("fit", None):
            s = self._splits
            log.info(
                f"{self.name}: train {len(s['train'][1])}, val {len(s['val'][1])}, test {len(s['test'][1])}, "
                f"{self.num_classes} classes, vocab {self.encoder.vocab_size} ({self.encoder.kind}), "
                f"source {self.resolved_source}, {self.test_overlap} test texts also in the training data"
                + (" (kept: the test set stays whole)" if self.test_overlap else "")
            )

    def _predict_texts(self) -> list[str] | None:
        if self.hp.predict_texts is not None:
            texts = [t for t in self.hp.predict_texts if str(t).strip()]
            if not texts:
                raise LabError(
                    "--data.init_args.predict_texts is empty; pass at least one text (e.g. '[\"great film\"]'), "
                    "or leave it out to predict on the test split"
                )
            if len(texts) < len(self.hp.predict_texts):
                log.warn(f"{len(self.hp.predict_texts) - len(texts)} empty predict_texts left out")
            return list(texts)
        if self.hp.predict_file:
            p = Path(self.hp.predict_file).expanduser()
            if not p.is_file():
                raise DataSourceError(f"no file {p}; pass --data.init_args.predict_file with one text a line")
            texts = [ln for ln in read_text(p, self.hp.encoding).split("\n") if ln.strip()]
            if not texts:
                raise DataSourceError(f"{p} holds no text; pass --data.init_args.predict_file with one text a line")
            return texts
        return None

    def encode_texts(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """A batch for raw ``texts`` (in order), e.g. for figures or interactive use."""
        enc = self._ensure_encoder()
        return EncodedTextDataset(enc.encode(texts), None, enc.pad_index).__getitems__(list(range(len(texts))))

    def tokens(self, ids: list[int]) -> list[str]:
        return self._ensure_encoder().tokens(ids)

    def texts(self, split: str) -> list[str]:
        return self._load_splits()[split][0]

    def dataset(self, split: str) -> EncodedTextDataset:
        """``datasets[split]``, encoded on first use (``predict``: the predict texts, else the test split)."""
        if split not in self.datasets:
            enc = self._ensure_encoder()
            if split == "predict":
                texts = self._predict_texts()
                if texts is not None:
                    self.datasets[split] = EncodedTextDataset(enc.encode(texts), None, enc.pad_index)
                    return self.datasets[split]
                split_texts, labels = self._load_splits()["test"]
            else:
                split_texts, labels = self._load_splits()[split]
            self.datasets[split] = EncodedTextDataset(enc.encode(split_texts), labels, enc.pad_index)
        return self.datasets[split]

    def _loader(self, split: str) -> DataLoader:
        ds = self.dataset(split)
        if len(ds) == 0:
            raise empty_split(self.name, split)
        train = split == "train"
        if split == "predict":  # input order kept; a plain sampler (Lightning re-creates predict samplers)
            return DataLoader(
                ds,
                batch_size=self.eval_batch_size,
                shuffle=False,
                collate_fn=dict_collate,
                num_workers=self.num_workers,
            )
        # The training order follows the training seed: torch's initial seed is what seed_everything set (on
        # every rank, and again on a resumed run), and unlike a draw from the RNG it does not depend on how
        # many random numbers were used before the loader was built. The epoch is mixed in by the sampler.
        sampler = BucketBatchSampler(
            ds.lengths,
            self.batch_size if train else self.eval_batch_size_for(split, len(ds)),
            shuffle=train,
            bucket=self.hp.bucketing,
            seed=torch.initial_seed() if train else 0,
        )
        return (ResumableLoader if train else DataLoader)(  # the training position is saved in checkpoints
            ds,
            batch_sampler=sampler,
            collate_fn=dict_collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        loader = self._loader("train")
        if self.trainer is not None:  # a new, seeded order every epoch, also after a restart
            loader.batch_sampler.epoch = self.trainer.current_epoch
        return loader

    # --- checkpoint --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"lab_data": 1, "class_names", "encoder", "dataset", "tokenizer_options", "resolved_source"}``."""
        self._ensure_encoder()
        return super().state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._restore(state)


def _options(kind: type, value: Any) -> Any:
    """``value`` as the options dataclass ``kind``: a mapping (e.g. from a checkpoint's hparams) is converted."""
    return kind(**value) if isinstance(value, Mapping) else value


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise LabError(
            f"--data.init_args.files.encoding {encoding!r} is not a known text encoding; "
            "pass e.g. utf-8, latin-1 or cp1252"
        ) from None


def _take(split: tuple[list[str], np.ndarray], idx: torch.Tensor) -> tuple[list[str], np.ndarray]:
    idx = idx.numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
    texts, labels = split
    return [texts[i] for i in idx], labels[idx]
