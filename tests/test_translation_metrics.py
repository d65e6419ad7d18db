"""Translation metrics: BLEU / chrF through sacrebleu's public API, corpus token-mean loss, ppl = exp(loss)."""

from __future__ import annotations

import math
import re

import lightning as L
import pytest
import sacrebleu
import torch
from torch.nn import functional as F

from lab_modules.nets.rnn_seq2seq import RNNSeq2Seq
from lab_modules.seq2seq import Seq2Seq
from lab_modules.seq2seq_metrics import CorpusBLEU, CorpusChrF
from tests.helpers import run_gloo_ranks

V_SRC, V_TGT = 13, 17
VOCAB = ["<pad>", "<unk>", "<bos>", "<eos>"] + [f"\u2581w{i}" for i in range(4, V_TGT)]

HYPS = ["the cat sat on the mat.", "a dog runs", "zwei hunde spielen im schnee.", "", "é à ü — ok ?"]
REFS = ["the cat sat on a mat.", "a dog is running", "two dogs play in the snow.", "nothing", "é à ü ok ?"]


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_bleu_and_chrf_equal_sacrebleu_in_any_batching(chunk):
    bleu, chrf = CorpusBLEU(), CorpusChrF()
    for i in range(0, len(HYPS), chunk):
        bleu.update(HYPS[i : i + chunk], REFS[i : i + chunk])
        chrf.update(HYPS[i : i + chunk], REFS[i : i + chunk])
    assert float(bleu.compute()) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    assert float(chrf.compute()) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)


def test_states_of_two_ranks_add_up_to_the_corpus_score():
    # what a DDP sync does: each rank's states merged (sum for BLEU's statistics, cat for chrF's sentences)
    parts = [(CorpusBLEU(), CorpusChrF()) for _ in range(2)]
    for i, (h, r) in enumerate(zip(HYPS, REFS)):
        for m in parts[i % 2]:
            m.update([h], [r])
    bleu, chrf = parts[0]
    bleu.merge_state(parts[1][0])
    chrf.merge_state(parts[1][1])
    assert float(bleu.compute()) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    assert float(chrf.compute()) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)


def test_no_private_sacrebleu_names():
    import lab_modules.seq2seq_metrics as m

    source = open(m.__file__, encoding="utf-8").read()
    assert re.findall(r"(?<!self)\._[A-Za-z]", source) == []  # e.g. sacrebleu's _extract_corpus_statistics


def _batches() -> list[dict]:
    g = torch.Generator().manual_seed(0)
    out = []
    for n, s_len, t_len in ((3, 5, 7), (1, 4, 3), (4, 6, 9)):  # different sizes and target lengths
        src = torch.randint(4, V_SRC, (n, s_len), generator=g)
        mask = torch.ones(n, s_len, dtype=torch.long)
        tgt = torch.randint(4, V_TGT, (n, t_len), generator=g)
        tgt[:, 0] = 2
        for i in range(n):  # ragged targets: each ends with <eos> then padding
            end = int(torch.randint(2, t_len, (), generator=g))
            tgt[i, end] = 3
            tgt[i, end + 1 :] = 0
        out.append(
            {"src_ids": src, "src_mask": mask, "tgt_ids": tgt, "target_text": [f"w{i} w{i + 1}" for i in range(n)]}
        )
    return out


def test_val_loss_is_the_corpus_token_mean_and_ppl_its_exp(tmp_path):
    torch.manual_seed(0)
    net = RNNSeq2Seq(V_SRC, V_TGT, embedding_dim=8, hidden_size=12)
    task = Seq2Seq(net, target_vocab=VOCAB, max_decode_extra=2, label_smoothing=0.1)
    batches = _batches()
    trainer = L.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, accelerator="cpu",
    )  # fmt: skip
    logged = trainer.validate(task, dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))[0]
    total, tokens = 0.0, 0
    task.eval()
    with torch.no_grad():
        for b in batches:
            logits = net(b["src_ids"], b["src_mask"], b["tgt_ids"][:, :-1])
            target = b["tgt_ids"][:, 1:]
            total += float(
                F.cross_entropy(logits.reshape(-1, V_TGT), target.reshape(-1), ignore_index=0, reduction="sum")
            )
            tokens += int((target != 0).sum())
    assert logged["val/loss"] == pytest.approx(total / tokens, rel=1e-6)
    assert logged["val/ppl"] == pytest.approx(math.exp(logged["val/loss"]), rel=1e-6)


def test_val_beam_curve_logs_greedy_and_beam_bleu(tmp_path):
    torch.manual_seed(0)
    net = RNNSeq2Seq(V_SRC, V_TGT, embedding_dim=8, hidden_size=12)
    task = Seq2Seq(net, target_vocab=VOCAB, max_decode_extra=2, val_beam_curve=True, beam_width=3)
    trainer = L.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, accelerator="cpu",
    )  # fmt: skip
    logged = trainer.validate(task, dataloaders=torch.utils.data.DataLoader(_batches(), batch_size=None))[0]
    assert logged["val/bleu_greedy"] == logged["val/bleu"]  # val/bleu is greedy unless val_beam
    hyps, refs = [], []
    task.eval()
    for b in _batches():
        seqs, _ = task.translate(b["src_ids"], b["src_mask"], beam=True)
        hyps += [task.to_text(s) for s in seqs]
        refs += b["target_text"]
    assert logged["val/bleu_beam"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-6)


def test_train_epoch_loss_is_the_token_weighted_mean_of_the_batches(tmp_path):
    torch.manual_seed(0)
    task = Seq2Seq(RNNSeq2Seq(V_SRC, V_TGT, embedding_dim=8, hidden_size=12), target_vocab=VOCAB)
    batches = _batches()
    seen = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append((float(outputs["loss"]), int((batch["tgt_ids"][:, 1:] != 0).sum())))

    trainer = L.Trainer(
        max_epochs=1, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu", callbacks=[Record()],
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    expected = sum(loss * n for loss, n in seen) / sum(n for _, n in seen)
    assert float(trainer.callback_metrics["train/loss_epoch"]) == pytest.approx(expected, rel=1e-6)


def _rank(rank: int, world: int, port: int, queue) -> None:
    import torch.distributed as dist

    from lab_modules.seq2seq_metrics import TokenNLL

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    bleu, chrf, loss = CorpusBLEU(), CorpusChrF(), TokenNLL()
    bleu.update(HYPS[rank::world], REFS[rank::world])  # each rank sees part of the corpus (unequal parts)
    chrf.update(HYPS[rank::world], REFS[rank::world])
    loss.update(torch.tensor(3.0 * (rank + 1)), 2 + rank)
    queue.put((rank, float(bleu.compute()), float(chrf.compute()), float(loss.compute())))
    dist.destroy_process_group()


@pytest.mark.slow
def test_metrics_synchronise_over_two_processes():
    results = run_gloo_ranks(_rank)
    for _, bleu, chrf, loss in results:
        assert bleu == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
        assert chrf == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)
        assert loss == pytest.approx((3.0 + 6.0) / (2 + 3))  # summed token losses over summed tokens
