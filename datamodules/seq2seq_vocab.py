"""Tokenisers for one side of a parallel corpus: word level or BPE, trained on the training split only.

Both kinds share one pipeline, run by the ``tokenizers`` library:

- normaliser: NFKC (French narrow no-break spaces become plain spaces) and optional lower-casing;
- pre-tokeniser: ``Metaspace`` (every word-initial piece carries ``▁``) then punctuation split off
  (the translation report left ``va!`` as one word): ``"Va-t'en !"`` -> ``▁va - t ' en ▁!``;
- model: ``WordLevel`` (unknown words -> ``<unk>``, never ``<pad>`` as the report did) or ``BPE``;
- decoder: ``Metaspace``, so decoding is exact: ``decode(encode(x)) == normalise(x)`` for in-vocabulary text.

Specials: ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3. A ``SeqEncoder`` serialises to
plain strings and ints (``state()``), so it travels inside a Lightning checkpoint.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = [PAD, UNK, BOS, EOS]
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
WORD_START = "\u2581"  # ▁, the Metaspace marker
TokenizerKind = Literal["word", "bpe"]


def _pipeline(tok: Tokenizer, lowercase: bool) -> Tokenizer:
    norm = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tok.normalizer = normalizers.Sequence(norm)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(replacement=WORD_START), pre_tokenizers.Punctuation(behavior="isolated")]
    )
    tok.decoder = decoders.Metaspace(replacement=WORD_START)
    return tok


def train_tokenizer(
    texts: list[str],
    kind: TokenizerKind = "word",
    lowercase: bool = True,
    min_freq: int = 1,
    vocab_size: int | None = None,
) -> Tokenizer:
    """A tokenizer trained on ``texts`` (the training split only). ``vocab_size``: the word
    vocabulary's cap (None: every word seen ``min_freq`` times), or the BPE vocabulary size."""
    if kind == "word":
        tok = _pipeline(Tokenizer(models.WordLevel(unk_token=UNK)), lowercase)
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size or 10**9, min_frequency=min_freq, special_tokens=SPECIALS, show_progress=False
        )
    else:
        tok = _pipeline(Tokenizer(models.BPE(unk_token=UNK)), lowercase)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size or 8000, min_frequency=min_freq, special_tokens=SPECIALS, show_progress=False
        )
    tok.train_from_iterator(texts, trainer=trainer)
    if [tok.token_to_id(s) for s in SPECIALS] != [PAD_ID, UNK_ID, BOS_ID, EOS_ID]:  # the trainers put them first
        raise AssertionError("special token ids moved")
    return tok


class SeqEncoder:
    """Texts <-> id arrays for one language. ``encode`` adds ``<bos>`` / ``<eos>`` when asked."""

    def __init__(self, tokenizer: Tokenizer, kind: str, lowercase: bool) -> None:
        self.tokenizer = tokenizer
        self.kind = kind
        self.lowercase = lowercase
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def vocab(self) -> list[str]:
        """Tokens in id order (what the task module decodes with)."""
        inv = {i: t for t, i in self.tokenizer.get_vocab(with_added_tokens=True).items()}
        return [inv.get(i, UNK) for i in range(self.vocab_size)]

    def normalise(self, text: str) -> str:
        """What the text looks like to the tokenizer (NFKC, lower-cased), spaces collapsed: the
        form references are scored in."""
        return " ".join(self.tokenizer.normalizer.normalize_str(text).split())

    def encode(self, texts: list[str], bos: bool = False, eos: bool = False) -> list[np.ndarray]:
        encs = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        head, tail = [BOS_ID] if bos else [], [EOS_ID] if eos else []
        return [np.asarray(head + e.ids + tail, dtype=np.int64) for e in encs]

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.id_to_token(int(i)) or UNK for i in ids]

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "tokenizer_json": self.tokenizer.to_str()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SeqEncoder:
        return cls(Tokenizer.from_str(state["tokenizer_json"]), state["kind"], state["lowercase"])


def detokenize(tokens: list[str]) -> str:
    """Token strings -> text, every special token dropped (the Metaspace decoder's rule:
    concatenate, ``▁`` starts a word)."""
    text = "".join(t for t in tokens if t not in SPECIALS).replace(WORD_START, " ")
    return " ".join(text.split())
