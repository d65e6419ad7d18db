"""LightningDataModule for translation: parallel corpora -> length-bucketed, padded batches of id pairs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader

from datamodules.base import EMBEDDED_DIR, LabDataModule, split_indices
from datamodules.parallel_dataset import PairDataset
from datamodules.parallel_readers import ParallelSplits, read_parallel_hub, read_parallel_path, read_table
from datamodules.resumable import ResumableLoader
from datamodules.seq2seq_vocab import BOS_ID, EOS_ID, PAD_ID, SeqEncoder, TokenizerKind, train_tokenizer
from datamodules.tensor_dataset import dict_collate
from datamodules.text_batching import BucketBatchSampler
from datamodules.text_dedup import overlap
from labcore import log
from labcore.errors import DataSourceError, LabError

EMBEDDED = {"tatoeba_eng_fra": EMBEDDED_DIR / "translation" / "tatoeba_eng_fra_sample.tsv.gz"}
HUB = {"multi30k": "bentrevett/multi30k"}
HOW_TO_GET = {
    "tatoeba_eng_fra": "pass --data.init_args.path fra.txt (manythings/Tatoeba 'English<TAB>French' lines, .gz too)",
    "multi30k": "pass --data.init_args.path DIR with train.de/train.en, val.*, test.* (or source download)",
}


@dataclass(frozen=True)
class PairTokenizerOptions:
    """The translation tokenizers: ``--data.init_args.tokenizer.<field>``, in YAML
    ``tokenizer: {kind: word, min_freq: 2}``; both are trained on the training split only.

    Args:
        kind: ``word`` (word level, punctuation split off, ``<unk>`` for unknown words) or ``bpe`` (subwords).
        lowercase / min_freq / vocab_size: ``vocab_size`` is the word cap or the BPE size.
        joint_vocab: one tokenizer for both languages (needed for shared embeddings).
    """

    kind: TokenizerKind = "word"
    lowercase: bool = True
    min_freq: int = 1
    vocab_size: int | None = None
    joint_vocab: bool = False


DEFAULT_TOKENIZER = PairTokenizerOptions()


class TranslationDataModule(LabDataModule):
    """Sentence pairs -> ``{"src_ids", "src_mask", "src_lengths", "tgt_ids", "tgt_lengths",
    "source_text", "target_text"}`` batches (``datamodules.parallel_dataset``).

    The data state (saved in every checkpoint) is both tokenizers, so ``predict --ckpt_path``
    translates raw sentences on a machine without the training data:
    ``--data.init_args.predict_texts '["I am cold."]'`` or ``--data.init_args.predict_file FILE``
    (one sentence a line).

    Args:
        dataset: ``tatoeba_eng_fra`` (embedded: a 15,000-pair sample of the manythings ``fra.txt``),
            ``multi30k`` (``download``: ``bentrevett/multi30k``) or ``custom`` (your ``path``).
        path: one table of pairs (``.tsv``/``.txt``/``.csv``, ``.gz`` too; columns in ``columns``
            order) or a folder of aligned ``train.<lang>`` / ``val|dev.<lang>`` / ``test.<lang>``
            files (see ``datamodules.parallel_readers``).
        test_set: which test files of an aligned folder to read when it holds several (Multi30k:
            ``test_2016_flickr``, the default, ``test_2017_flickr`` or ``test_2017_mscoco``).
        columns: the languages of a table's first two columns (Tatoeba: ``[en, fr]``).
        src_lang / tgt_lang: translate from / to (file suffixes or hub column names);
            ``src_lang: fr, tgt_lang: en`` reverses a Tatoeba table.
        hub_id: HF hub data set for ``download`` (default per ``dataset``).
        tokenizer: ``PairTokenizerOptions``: ``kind`` (``word`` or ``bpe``), ``lowercase``, ``min_freq``,
            ``vocab_size``, ``joint_vocab``.
        max_length: training pairs with a side longer than this many tokens (``<bos>`` / ``<eos>``
            included) are dropped (a warning counts them); held-out pairs are kept whole.
        max_train_pairs / max_eval_pairs: seeded subsets (split_seed) of train (drawn from the pairs
            that pass ``max_length``) / of val and test each.
        val_fraction / test_fraction / split / split_seed: the held-out parts where the data has
            none, carved by SOURCE SENTENCE: every translation of one source sentence lands in
            the same part, so no source sentence is both trained on and tested.
        bucketing: length-bucketed batches (``BucketBatchSampler``) of ``batch_size`` / ``eval_batch_size``.
        predict_texts / predict_file: what ``predict`` translates (default: the test split).
        kwargs: the ``LabDataModule`` arguments: ``source``, ``path`` (above), ``data_dir``, ``split``,
            ``split_seed``, ``batch_size``, ``eval_batch_size``, ``num_workers``, ``from_checkpoint`` (take
            the tokenizers from this Lightning checkpoint; cli.py fills it from ``--ckpt_path``).
    """

    host = "huggingface.co"
    moved_options: ClassVar[dict[str, str]] = {
        "tokenizer": "tokenizer.kind",
        **{k: f"tokenizer.{k}" for k in ("lowercase", "min_freq", "vocab_size", "joint_vocab")},
    }
    optional_model_info = frozenset({"target_vocab", "bos_index", "eos_index", "pad_index", "src_vocab_size"})

    def __init__(
        self,
        dataset: Literal["tatoeba_eng_fra", "multi30k", "custom"] = "tatoeba_eng_fra",
        columns: list[str] | None = None,
        src_lang: str = "en",
        tgt_lang: str = "fr",
        hub_id: str | None = None,
        test_set: str | None = None,
        tokenizer: PairTokenizerOptions = DEFAULT_TOKENIZER,
        max_length: int | None = None,
        max_train_pairs: int | None = None,
        max_eval_pairs: int | None = None,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        bucketing: bool = True,
        predict_texts: list[str] | None = None,
        predict_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: the ``LabDataModule`` arguments (``source``, ``path``, ``batch_size``, ...)."""
        self._dataset = dataset
        if kwargs.get("split") == "stratified":
            raise LabError("translation: split=stratified needs class labels; pass --data.init_args.split random")
        if src_lang == tgt_lang:
            raise LabError(f"translation: src_lang and tgt_lang are both {src_lang!r}; pass two languages")
        if kwargs.get("on_device"):
            raise LabError(f"{self.name}: on_device is for in-memory tensor data; leave --data.init_args.on_device out")
        options = PairTokenizerOptions(**tokenizer) if isinstance(tokenizer, Mapping) else tokenizer
        super().__init__(**kwargs)
        tokenizer = asdict(options)  # hparams (loggers, checkpoints) hold plain values: weights_only loads them
        self.save_hyperparameters()
        # the flat view the reading code uses: hp.tokenizer is the tokenizer kind
        self.hp = AttributeDict(dict(self.hparams) | tokenizer | {"tokenizer": options.kind})
        self.columns = list(columns or ["en", "fr"])
        self._splits: dict[str, tuple[list[str], list[str]]] | None = None
        self._encoders: tuple[SeqEncoder, SeqEncoder] | None = None
        self.dropped: dict[str, int] = {}  # what was dropped, by reason (the tests read it)
        self.target_overlap: dict[str, int] = {}  # val / test references that are also training targets

    # --- source ------------------------------------------------------------------------------
    @property
    def name(self) -> str:  # type: ignore[override]
        return f"translation/{self._dataset}"

    @property
    def how_to_get(self) -> str:  # type: ignore[override]
        return HOW_TO_GET.get(self._dataset, "pass --data.init_args.path FILE_OR_DIR")

    def _full_copy(self) -> Path | None:
        p = self.data_dir / self._dataset
        return p if self._dataset != "custom" and p.exists() else None

    def download(self) -> Path:
        hub_id = self.hp.hub_id or HUB.get(self._dataset)
        if hub_id is None:
            raise DataSourceError(
                f"{self.name}: no hub download; pass --data.init_args.hub_id ID, or {self.how_to_get}"
            )
        self._hub = read_parallel_hub(hub_id, self.hp.src_lang, self.hp.tgt_lang, self.data_dir / "hf")
        return self.data_dir / "hf"

    def resolve(self) -> tuple[str, Path | None]:
        if self.resolved_source is None:
            if self._dataset == "custom" and not self.path:
                raise DataSourceError(f"{self.name}: pass --data.init_args.path FILE_OR_DIR (a table or aligned files)")
            if self.source == "embedded" and self._dataset not in EMBEDDED:
                raise DataSourceError(f"{self.name}: no embedded copy; {self.how_to_get}")
        source, location = super().resolve()
        if source == "embedded" and self._dataset not in EMBEDDED:
            raise DataSourceError(f"{self.name}: not found and no embedded copy; {self.how_to_get}")
        return source, location

    # --- reading and splitting -----------------------------------------------------------------
    def _read(self) -> ParallelSplits:
        """``{split: (sources, targets)}`` in the chosen direction."""
        hp = self.hp
        source, location = self.resolve()
        if source == "download":
            if getattr(self, "_hub", None) is None:
                self.download()
            return self._hub  # already in src, tgt order
        if source == "embedded" or (location is not None and location.is_file()):
            first, second = read_table(EMBEDDED[self._dataset] if source == "embedded" else location)
            return {"all": self._direct(first, second)}
        raw = read_parallel_path(location, hp.src_lang, hp.tgt_lang, hp.test_set)
        if "all" in raw:  # one table in a folder: columns order
            return {"all": self._direct(*raw["all"])}
        return raw  # aligned files are read in (src, tgt) order

    def _direct(self, first: list[str], second: list[str]) -> tuple[list[str], list[str]]:
        langs = self.columns
        if sorted([self.hp.src_lang, self.hp.tgt_lang]) != sorted(langs[:2]):
            raise DataSourceError(
                f"{self.name}: the table's columns are {langs[:2]}, not {self.hp.src_lang}/{self.hp.tgt_lang}; "
                f"pass --data.init_args.columns '[LANG1, LANG2]' or matching src_lang / tgt_lang"
            )
        return (first, second) if self.hp.src_lang == langs[0] else (second, first)

    def _load_splits(self) -> dict[str, tuple[list[str], list[str]]]:
        if self._splits is not None:
            return self._splits
        raw = {k: self._drop_empty(k, *v) for k, v in self._read().items()}
        pool_name = "train" if "train" in raw else "all"
        if pool_name not in raw:
            raise DataSourceError(f"{self.name}: no training pairs found; {self.how_to_get}")
        held = {k: f for k, f in (("test", self.hp.test_fraction), ("val", self.hp.val_fraction)) if k not in raw}
        pool = raw.pop(pool_name)
        parts = self._grouped_split(pool, held) if held else {"train": pool}
        splits = {**parts, **{k: v for k, v in raw.items() if k in ("val", "test")}}
        for k in ("val", "test"):
            if k not in splits or not splits[k][0]:
                raise DataSourceError(f"{self.name}: no {k} pairs; pass a {k} file or a larger {k}_fraction")
        for k in ("val", "test"):
            splits[k] = _subset(splits[k], self.hp.max_eval_pairs, self.split_seed + 1)
        pool = splits["train"]
        if not self.has_state:
            # the tokenizers are fitted before the length filter (it counts their tokens), on the pairs
            # max_train_pairs draws first; a restored state brings the same tokenizers, so the same pairs follow
            self.fitted_state(_subset(pool, self.hp.max_train_pairs, self.split_seed))
        splits["train"] = self._select_train(pool)
        train_sources = set(splits["train"][0])
        shared = sum(s in train_sources for s in splits["test"][0])
        if shared:  # only an official test split can share sources; the grouped split never does
            log.warn(f"{self.name}: {shared} test sentences also occur as training sources (official test kept whole)")
        self.target_overlap = {k: overlap(splits[k][1], splits["train"][1]) for k in ("val", "test")}
        self._splits = splits
        return splits

    def _select_train(self, pool: tuple[list[str], list[str]]) -> tuple[list[str], list[str]]:
        """The training pairs: the length filter first, then ``max_train_pairs`` of what passes, in the
        order of one seeded permutation (a fresh fit and a restored datamodule draw the same pairs)."""
        src, tgt = pool
        keep = self._length_ok(src, tgt)
        n = self.hp.max_train_pairs
        if not n or n >= int(keep.sum()):
            idx = np.flatnonzero(keep)
        else:
            perm = np.random.default_rng(self.split_seed).permutation(len(src))
            idx = np.sort(perm[keep[perm]][:n])
        return [src[i] for i in idx], [tgt[i] for i in idx]

    def _drop_empty(self, split: str, src: list[str], tgt: list[str]) -> tuple[list[str], list[str]]:
        keep = [i for i, (a, b) in enumerate(zip(src, tgt)) if a.strip() and b.strip()]
        if len(keep) < len(src):
            self.dropped[f"empty_{split}"] = len(src) - len(keep)
            log.warn(f"{self.name}: {len(src) - len(keep)} of {len(src)} {split} pairs dropped (an empty side)")
        return [src[i] for i in keep], [tgt[i] for i in keep]

    def _grouped_split(self, pool: tuple[list[str], list[str]], held: dict[str, float]) -> dict:
        """Split by source sentence (normalised): all translations of one sentence stay together."""
        src, tgt = pool
        keys = [" ".join(s.lower().split()) for s in src]
        uniq = list(dict.fromkeys(keys))
        group = {k: i for i, k in enumerate(uniq)}
        parts = split_indices(len(uniq), held, self.split, self.split_seed)
        where = np.empty(len(uniq), dtype=object)
        for name, idx in parts.items():
            where[idx.numpy()] = name
        out: dict[str, tuple[list[str], list[str]]] = {name: ([], []) for name in parts}
        for s, t, k in zip(src, tgt, keys):
            a, b = out[where[group[k]]]
            a.append(s)
            b.append(t)
        return out

    def _length_ok(self, src: list[str], tgt: list[str]) -> np.ndarray:
        """Which training pairs fit ``max_length`` (all without it); warns with the count of the others."""
        if not self.hp.max_length:
            return np.ones(len(src), dtype=bool)
        s_enc, t_enc = self.encoders()
        n = self.hp.max_length
        s_ids, t_ids = s_enc.encode(src, eos=True), t_enc.encode(tgt, bos=True, eos=True)
        keep = np.array([len(a) <= n and len(b) <= n for a, b in zip(s_ids, t_ids)], dtype=bool)
        too_long = int((~keep).sum())
        if too_long:
            self.dropped["too_long"] = too_long
            log.warn(
                f"{self.name}: {too_long} of {len(src)} training pairs longer than max_length={n} "
                f"tokens dropped (val/test kept whole)"
            )
        return keep

    # --- tokenizers (the data state) ---------------------------------------------------------------
    def fit_state(self, train: tuple[list[str], list[str]]) -> dict[str, Any]:
        hp = self.hp
        src, tgt = train

        def fit(texts: list[str]) -> dict[str, Any]:
            tok = train_tokenizer(texts, hp.tokenizer, hp.lowercase, hp.min_freq, hp.vocab_size)
            return SeqEncoder(tok, hp.tokenizer, hp.lowercase).state()

        if hp.joint_vocab:
            joint = fit(list(src) + list(tgt))
            return {"src_encoder": joint, "tgt_encoder": joint, "joint_vocab": True}
        return {"src_encoder": fit(src), "tgt_encoder": fit(tgt), "joint_vocab": False}

    def encoders(self) -> tuple[SeqEncoder, SeqEncoder]:
        """``(source, target)`` encoders: restored, or fitted on the training split (before the length filter)."""
        if self._encoders is None:
            if not self.has_state:
                self._load_splits()  # fits the tokenizers on the way
            state = self.data_state
            self._encoders = (SeqEncoder.from_state(state["src_encoder"]), SeqEncoder.from_state(state["tgt_encoder"]))
        return self._encoders

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._encoders = None

    # --- what the model is told --------------------------------------------------------------------
    def model_info(self) -> dict[str, Any]:
        src, tgt = self.encoders()
        return {
            "src_vocab_size": src.vocab_size,
            "tgt_vocab_size": tgt.vocab_size,
            "pad_index": PAD_ID,
            "bos_index": BOS_ID,
            "eos_index": EOS_ID,
            "target_vocab": tgt.vocab(),
        }

    # --- datasets and loaders ------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if stage == "predict" and self._predict_texts() is not None:
            return
        self.encoders()
        if stage in ("fit", None):
            s = self._load_splits()
            src, tgt = self.encoders()
            shares = ", ".join(
                f"{k} {n} of {len(s[k][1])} ({100 * n / max(len(s[k][1]), 1):.1f}%)"
                for k, n in self.target_overlap.items()
            )
            log.info(
                f"{self.name}: {self.hp.src_lang}->{self.hp.tgt_lang}, train {len(s['train'][0])}, val "
                f"{len(s['val'][0])}, test {len(s['test'][0])} pairs, vocab {src.vocab_size}/{tgt.vocab_size} "
                f"({self.hp.tokenizer}), source {self.resolved_source}; references that are also training "
                f"targets: {shares} (kept: different sources can share a translation)"
            )

    def _predict_texts(self) -> list[str] | None:
        if self.hp.predict_texts:
            return list(self.hp.predict_texts)
        if self.hp.predict_file:
            p = Path(self.hp.predict_file).expanduser()
            if not p.exists():
                raise DataSourceError(f"no file {p}; pass --data.init_args.predict_file with one sentence a line")
            return [ln.strip() for ln in p.read_text(encoding="utf-8").split("\n") if ln.strip()]
        return None

    def texts(self, split: str) -> tuple[list[str], list[str]]:
        """``(sources, targets)`` of a split, raw."""
        return self._load_splits()[split]

    def encode_pairs(self, sources: list[str], targets: list[str] | None = None) -> dict:
        """A batch (in order) for raw sentences, e.g. for figures or interactive use."""
        s_enc, t_enc = self.encoders()
        ds = PairDataset(
            s_enc.encode(sources, eos=True),
            t_enc.encode(targets, bos=True, eos=True) if targets is not None else None,
            [s_enc.normalise(s) for s in sources],
            [t_enc.normalise(t) for t in targets] if targets is not None else None,
        )
        return ds.__getitems__(list(range(len(sources))))

    def source_tokens(self, ids: list[int]) -> list[str]:
        return self.encoders()[0].tokens(ids)

    def target_tokens(self, ids: list[int]) -> list[str]:
        return self.encoders()[1].tokens(ids)

    def dataset(self, split: str) -> PairDataset:
        if split not in self.datasets:
            s_enc, t_enc = self.encoders()
            texts = self._predict_texts() if split == "predict" else None
            if texts is not None:
                self.datasets[split] = PairDataset(
                    s_enc.encode(texts, eos=True), None, [s_enc.normalise(t) for t in texts], None
                )
            else:
                src, tgt = self._load_splits()["test" if split == "predict" else split]
                self.datasets[split] = PairDataset(
                    s_enc.encode(src, eos=True),
                    t_enc.encode(tgt, bos=True, eos=True),
                    [s_enc.normalise(t) for t in src],
                    [t_enc.normalise(t) for t in tgt],
                )
        return self.datasets[split]

    def _loader(self, split: str) -> DataLoader:
        ds = self.dataset(split)
        if split == "predict":  # input order kept
            return DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, collate_fn=dict_collate)
        train = split == "train"
        # the training order follows the training seed (seed_everything), mixed with the epoch by the sampler
        sampler = BucketBatchSampler(
            ds.lengths,
            self.batch_size if train else self.eval_batch_size,
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
        if self.trainer is not None:
            loader.batch_sampler.epoch = self.trainer.current_epoch
        return loader


def _subset(pairs: tuple[list[str], list[str]], n: int | None, seed: int) -> tuple[list[str], list[str]]:
    src, tgt = pairs
    if not n or n >= len(src):
        return pairs
    idx = np.sort(np.random.default_rng(seed).permutation(len(src))[:n])
    return [src[i] for i in idx], [tgt[i] for i in idx]
