"""Generic sequence-to-sequence (translation) task: teacher forcing, greedy and beam decoding, BLEU / chrF."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torch.nn import functional as F
from torchmetrics import MeanMetric

from lab_modules.nets.seq2seq_base import Seq2SeqNet
from lab_modules.optim import build_optimizers
from lab_modules.seq2seq_decoding import beam_search, greedy_decode, length_caps
from lab_modules.seq2seq_metrics import CorpusBLEU, CorpusChrF, TokenNLL, ids_to_text
from lab_modules.task import LabTask
from labcore.checkpoints import load_net_weights
from labcore.errors import LabError


class Seq2Seq(LabTask):
    """Trains a ``Seq2SeqNet`` on batches ``{"src_ids", "src_mask", "tgt_ids", "target_text", ...}``
    (``datamodules.translation.TranslationDataModule``).

    Training: cross-entropy over the shifted targets, padding ignored, optional label smoothing;
    ``teacher_forcing`` is the probability that the decoder is fed the reference token rather
    than its own previous prediction (the report's: 0.5; gradient clipping comes from the trainer,
    ``gradient_clip_val``). ``train/loss_epoch`` is the token-weighted mean of the epoch's
    batch losses over every rank (a ``MeanMetric``, so a mid-epoch resume restores it).
    Validation and test: ``loss``, the corpus token mean of the cross-entropy under teacher forcing
    (summed token losses over the number of tokens, all ranks; no label smoothing), and ``ppl``,
    its exponential; corpus BLEU and chrF (sacrebleu) of decoded translations against the
    references, both detokenised with every special token removed. ``val/bleu`` (greedy, or beam
    with ``val_beam``) is the monitored metric; with ``val_beam_curve`` validation decodes both
    ways and also logs ``val/bleu_greedy`` and ``val/bleu_beam``. Test logs greedy (``test/bleu``,
    ``test/chrf``) and beam (``test/bleu_beam``, ``test/chrf_beam``). ``predict`` translates raw
    sentences (``prediction_kind`` ``texts``: a TSV of source, greedy, beam [, reference]).

    Args:
        net: a ``Seq2SeqNet`` (``RNNSeq2Seq``, ``TransformerSeq2Seq``).
        pad_index / bos_index / eos_index / unk_index / target_vocab: filled from the data (the
            target vocabulary decodes translations; it is saved in the checkpoint).
        beam_width / length_penalty: beam search (width 1 is greedy; GNMT length penalty alpha).
        max_decode_ratio / max_decode_extra / max_decode_len: a translation has at most
            ``ratio * source length + extra`` tokens, and never more than ``max_decode_len``.
        val_beam: score validation with beam search instead of greedy (slower).
        val_beam_curve: validation decodes with both greedy and beam search and logs
            ``val/bleu_greedy`` and ``val/bleu_beam`` (the beam-vs-greedy curve; slower).
        weights_from: a Lightning checkpoint whose weights initialise the model (weights_only load).
    """

    monitor = "val/bleu"
    monitor_mode = "max"
    prediction_kind = "texts"

    def __init__(
        self,
        net: Seq2SeqNet,
        pad_index: int = 0,
        bos_index: int = 2,
        eos_index: int = 3,
        unk_index: int = 1,
        # a list of str, annotated as a bare list: with list[str] the config parser type-checks each of its
        # thousands of tokens on every parse and validation (minutes per CLI call on the full Tatoeba vocabulary).
        target_vocab: list | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        teacher_forcing: float = 1.0,
        label_smoothing: float = 0.0,
        beam_width: int = 5,
        length_penalty: float = 0.6,
        max_decode_ratio: float = 2.0,
        max_decode_extra: int = 10,
        max_decode_len: int = 200,
        val_beam: bool = False,
        val_beam_curve: bool = False,
        weights_from: str | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= teacher_forcing <= 1.0:
            raise LabError(f"teacher_forcing={teacher_forcing}; pass a probability between 0 and 1")
        if beam_width < 1:
            raise LabError(f"beam_width={beam_width}; pass 1 (greedy) or more")
        self.save_hyperparameters(ignore=["net", "weights_from"])
        self.net = net
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.target_vocab = list(target_vocab or [])
        self.loss_fn = nn.CrossEntropyLoss(ignore_index=pad_index, label_smoothing=label_smoothing)
        self.train_loss = MeanMetric()
        for stage in ("val", "test"):
            setattr(self, f"{stage}_loss", TokenNLL())
            setattr(self, f"{stage}_ppl", TokenNLL(exponentiate=True))
            setattr(self, f"{stage}_bleu", CorpusBLEU())
            setattr(self, f"{stage}_chrf", CorpusChrF())
        self.test_bleu_beam, self.test_chrf_beam = CorpusBLEU(), CorpusChrF()
        self.val_bleu_greedy, self.val_bleu_beam = CorpusBLEU(), CorpusBLEU()
        if weights_from:
            load_net_weights(self.net, weights_from, option="--model.init_args.weights_from")

    # --- decoding ------------------------------------------------------------------------------
    def caps(self, src_mask: Tensor) -> Tensor:
        hp = self.hparams
        return length_caps(src_mask.sum(1), hp.max_decode_ratio, hp.max_decode_extra, hp.max_decode_len)

    def translate(
        self, src_ids: Tensor, src_mask: Tensor, beam: bool = False, keep_attention: bool = False
    ) -> tuple[list[list[int]], list[Tensor] | None]:
        """Token ids per sentence (greedy, or beam search of ``beam_width``) and, greedy only, the
        attention of each output token over the source."""
        hp = self.hparams
        caps = self.caps(src_mask)
        if beam:
            return beam_search(
                self.net, src_ids, src_mask, hp.bos_index, hp.eos_index, caps, hp.beam_width, hp.length_penalty
            ), None
        keep = keep_attention and hasattr(self.net, "keep_attention")
        if keep:
            self.net.keep_attention = True
        try:
            return greedy_decode(self.net, src_ids, src_mask, hp.bos_index, hp.eos_index, caps, keep_attention)
        finally:
            if keep:
                self.net.keep_attention = False

    def to_text(self, ids: list[int]) -> str:
        """Detokenised translation, every special token removed."""
        if not self.target_vocab:
            raise LabError("the model has no target_vocab; build it through the CLI or pass the data's model_info()")
        return ids_to_text(ids, self.target_vocab)

    # --- steps -----------------------------------------------------------------------------------
    def _loss(self, batch: dict[str, Any], teacher_forcing: float) -> tuple[Tensor, Tensor, Tensor]:
        tgt = batch["tgt_ids"]
        logits = self.net(batch["src_ids"], batch["src_mask"], tgt[:, :-1], teacher_forcing=teacher_forcing)
        target = tgt[:, 1:]
        return self.loss_fn(logits.reshape(-1, logits.shape[-1]), target.reshape(-1)), logits, target

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss, _, target = self._loss(batch, self.hparams.teacher_forcing)
        tokens = int((target != self.hparams.pad_index).sum())
        self.train_loss(loss.detach(), weight=tokens)  # weighted by tokens: the batch loss is a token mean
        self.log("train/loss", self.train_loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        n = batch["src_ids"].shape[0]
        _, logits, target = self._loss(batch, 1.0)
        pad = self.hparams.pad_index
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1), ignore_index=pad, reduction="sum"
        )
        tokens = (target != pad).sum()
        for name in ("loss", "ppl"):
            metric = getattr(self, f"{stage}_{name}")
            metric.update(nll, tokens)
            self.log(f"{stage}/{name}", metric, on_epoch=True, prog_bar=name == "loss", batch_size=n)
        refs = batch["target_text"]
        hp = self.hparams
        beam = stage == "val" and hp.val_beam
        seqs, _ = self.translate(batch["src_ids"], batch["src_mask"], beam=beam)
        hyps = [self.to_text(s) for s in seqs]
        for name in ("bleu", "chrf"):
            metric = getattr(self, f"{stage}_{name}")
            metric.update(hyps, refs)
            self.log(f"{stage}/{name}", metric, on_epoch=True, prog_bar=name == "bleu", batch_size=n)
        if stage == "val" and hp.val_beam_curve:
            other, _ = self.translate(batch["src_ids"], batch["src_mask"], beam=not beam)
            other_hyps = [self.to_text(s) for s in other]
            beam_hyps, greedy_hyps = (hyps, other_hyps) if beam else (other_hyps, hyps)
            for name, h in (("greedy", greedy_hyps), ("beam", beam_hyps)):
                metric = getattr(self, f"val_bleu_{name}")
                metric.update(h, refs)
                self.log(f"val/bleu_{name}", metric, on_epoch=True, batch_size=n)
        if stage == "test":
            seqs, _ = self.translate(batch["src_ids"], batch["src_mask"], beam=True)
            hyps = [self.to_text(s) for s in seqs]
            for name in ("bleu", "chrf"):
                metric = getattr(self, f"test_{name}_beam")
                metric.update(hyps, refs)
                self.log(f"test/{name}_beam", metric, on_epoch=True, batch_size=n)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, list[str]]:
        greedy, _ = self.translate(batch["src_ids"], batch["src_mask"])
        beam, _ = self.translate(batch["src_ids"], batch["src_mask"], beam=True)
        out = {
            "source": list(batch["source_text"]),
            "greedy": [self.to_text(s) for s in greedy],
            "beam": [self.to_text(s) for s in beam],
        }
        if "target_text" in batch:
            out["reference"] = list(batch["target_text"])
        return out

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        steps = self.trainer.estimated_stepping_batches if hp.scheduler_interval == "step" else self.trainer.max_epochs
        return build_optimizers(
            self.parameters(), self.optimizer, self.lr_scheduler, hp.scheduler_interval, hp.scheduler_monitor, steps
        )
