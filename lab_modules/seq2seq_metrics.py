"""Corpus BLEU and chrF (sacrebleu's public API) and the token-mean loss as torchmetrics, so every value
is the corpus value under DDP as on one process.

- :class:`CorpusBLEU` keeps BLEU's sufficient statistics (clipped n-gram matches, n-gram totals,
  hypothesis and reference lengths, from ``BLEU.corpus_score``) as summed states and scores them
  with ``BLEU.compute_bleu``: equal to ``sacrebleu.corpus_bleu``.
- :class:`CorpusChrF` keeps the hypotheses and references themselves (UTF-8 bytes, gathered
  across ranks) and scores them with ``sacrebleu.corpus_chrf``: sacrebleu exposes no public way
  to add up chrF statistics.
- :class:`TokenNLL` is the corpus token mean of the negative log-likelihood (or its exponential,
  the perplexity): sum of token losses over number of tokens, both summed states.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")
WORD_START = "\u2581"
MAX_NGRAM = 4
SEPARATOR = 0  # a NUL byte ends every sentence in the byte states (never part of a detokenised sentence)


def ids_to_text(ids: list[int], vocab: list[str]) -> str:
    """Detokenise target ids (the datamodule's Metaspace tokens) with every special token removed."""
    toks = [vocab[i] if 0 <= i < len(vocab) else "<unk>" for i in ids]
    text = "".join(t for t in toks if t not in SPECIAL_TOKENS).replace(WORD_START, " ")
    return " ".join(text.split())


class CorpusBLEU(Metric):
    """sacrebleu's corpus BLEU (13a tokenisation, exp smoothing) on detokenised strings, one reference each."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        from sacrebleu.metrics import BLEU

        self.scorer = BLEU()
        self.add_state("correct", torch.zeros(MAX_NGRAM, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(MAX_NGRAM, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("sys_len", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("ref_len", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, hypotheses: list[str], references: list[str]) -> None:
        if not hypotheses:
            return
        s = self.scorer.corpus_score(list(hypotheses), [list(references)])
        self.correct += torch.tensor(s.counts, dtype=torch.long, device=self.device)
        self.total += torch.tensor(s.totals, dtype=torch.long, device=self.device)
        self.sys_len += s.sys_len
        self.ref_len += s.ref_len

    def compute(self) -> Tensor:
        from sacrebleu.metrics import BLEU

        score = BLEU.compute_bleu(
            self.correct.tolist(),
            self.total.tolist(),
            int(self.sys_len),
            int(self.ref_len),
            smooth_method=self.scorer.smooth_method,
            smooth_value=self.scorer.smooth_value,
            max_ngram_order=MAX_NGRAM,
        )
        return torch.tensor(float(score.score), dtype=torch.float64)


def _encode(texts: list[str], device: torch.device) -> Tensor:
    data = b"".join(t.encode("utf-8") + bytes([SEPARATOR]) for t in texts)
    return (
        torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device) if data else torch.zeros(0, dtype=torch.uint8)
    )


def _decode(state: Tensor | list[Tensor]) -> list[str]:
    if isinstance(state, list):
        state = torch.cat([s.reshape(-1).cpu() for s in state]) if state else torch.zeros(0, dtype=torch.uint8)
    data = bytes(state.cpu().to(torch.uint8).tolist())
    return [t.decode("utf-8") for t in data.split(bytes([SEPARATOR]))[:-1]]


class CorpusChrF(Metric):
    """sacrebleu's corpus chrF (character 6-grams, beta 2) on detokenised strings, one reference each."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("hypotheses", default=[], dist_reduce_fx="cat")
        self.add_state("references", default=[], dist_reduce_fx="cat")

    def update(self, hypotheses: list[str], references: list[str]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
        if hypotheses:
            self.hypotheses.append(_encode(list(hypotheses), self.device))
            self.references.append(_encode(list(references), self.device))

    def compute(self) -> Tensor:
        import sacrebleu

        hyps, refs = _decode(self.hypotheses), _decode(self.references)
        if not hyps:
            return torch.tensor(0.0, dtype=torch.float64)
        return torch.tensor(float(sacrebleu.corpus_chrf(hyps, [refs]).score), dtype=torch.float64)


class TokenNLL(Metric):
    """Corpus token mean of the negative log-likelihood: ``update(summed token losses, token count)``;
    ``exponentiate`` returns ``exp`` of it (the perplexity)."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, exponentiate: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.exponentiate = exponentiate
        # float32: a float64 state cannot live on every accelerator (Apple's MPS has no float64)
        self.add_state("loss_sum", torch.zeros(()), dist_reduce_fx="sum")
        self.add_state("tokens", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, loss_sum: Tensor, tokens: Tensor | int) -> None:
        self.loss_sum += loss_sum.detach().float()
        self.tokens += torch.as_tensor(tokens, device=self.tokens.device).long()

    def compute(self) -> Tensor:
        mean = float(self.loss_sum) / max(int(self.tokens), 1)
        return torch.tensor(math.exp(mean) if self.exponentiate else mean, dtype=torch.float64)
