"""Corpus BLEU and chrF (sacrebleu) as torchmetrics: the sufficient statistics are summed, so the
score is the same under DDP as on one process, and equals ``sacrebleu.corpus_bleu`` / ``corpus_chrf``."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")
WORD_START = "\u2581"


def ids_to_text(ids: list[int], vocab: list[str]) -> str:
    """Detokenise target ids (the datamodule's Metaspace tokens) with every special token removed."""
    toks = [vocab[i] if 0 <= i < len(vocab) else "<unk>" for i in ids]
    text = "".join(t for t in toks if t not in SPECIAL_TOKENS).replace(WORD_START, " ")
    return " ".join(text.split())


class _SacreMetric(Metric):
    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scorer = self._scorer()
        n = len(self.scorer._extract_corpus_statistics(["a"], [["a"]])[0])
        self.add_state("stats", torch.zeros(n, dtype=torch.float64), dist_reduce_fx="sum")

    def _scorer(self):
        raise NotImplementedError

    def update(self, hypotheses: list[str], references: list[str]) -> None:
        if hypotheses:
            stats = np.asarray(self.scorer._extract_corpus_statistics(list(hypotheses), [list(references)]))
            self.stats += torch.as_tensor(stats.sum(0), dtype=torch.float64, device=self.stats.device)

    def compute(self) -> torch.Tensor:
        stats = [int(round(x)) for x in self.stats.tolist()]
        return torch.tensor(float(self.scorer._compute_score_from_stats(stats).score), dtype=torch.float64)


class CorpusBLEU(_SacreMetric):
    """sacrebleu's corpus BLEU (13a tokenisation, exp smoothing) on detokenised strings."""

    def _scorer(self):
        from sacrebleu.metrics import BLEU

        return BLEU()


class CorpusChrF(_SacreMetric):
    """sacrebleu's corpus chrF (character 6-grams, beta 2)."""

    def _scorer(self):
        from sacrebleu.metrics import CHRF

        return CHRF()
