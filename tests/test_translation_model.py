"""Translation nets and task: padding invariance, masks, beam width 1 == greedy, BLEU == sacrebleu."""

from __future__ import annotations

import pytest
import sacrebleu
import torch

from datamodules.translation import TranslationDataModule
from lab_modules.nets.rnn_seq2seq import RNNSeq2Seq
from lab_modules.nets.transformer_seq2seq import TransformerSeq2Seq
from lab_modules.seq2seq import Seq2Seq
from lab_modules.seq2seq_decoding import beam_search, greedy_decode, length_caps
from lab_modules.seq2seq_metrics import CorpusBLEU, CorpusChrF, ids_to_text
from labcore.errors import LabError


@pytest.fixture(autouse=True)
def one_thread():
    # step-by-step decoders on a CPU shared with other jobs: torch's spinning intra-op threads made them far slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


V_SRC, V_TGT = 23, 29
NETS = {
    "rnn": lambda: RNNSeq2Seq(V_SRC, V_TGT, embedding_dim=16, hidden_size=24),
    "rnn_additive_bi": lambda: RNNSeq2Seq(
        V_SRC, V_TGT, embedding_dim=16, hidden_size=24, attention="additive", bidirectional=True, num_layers=2
    ),
    "rnn_dot": lambda: RNNSeq2Seq(V_SRC, V_TGT, embedding_dim=16, hidden_size=24, attention="dot"),
    "transformer": lambda: TransformerSeq2Seq(
        V_SRC, V_TGT, d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64
    ),
}


def _batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = max(lengths)
    ids = torch.randint(4, V_SRC, (len(lengths), s), generator=g)
    mask = torch.arange(s)[None, :] < torch.tensor(lengths)[:, None]
    ids[~mask] = 0
    ids[torch.arange(len(lengths)), torch.tensor(lengths) - 1] = 3  # <eos>
    return ids, mask.long()


def _net(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = NETS[name]()
    # a random net would mostly emit one token: sharpen it so translations vary with the input (some end
    # with <eos>, some at their length cap)
    with torch.no_grad():
        net.out.weight.mul_(8.0)
        net.src_embedding.weight.mul_(3.0)
    return net.eval()


@pytest.mark.parametrize("name", list(NETS))
def test_padding_never_changes_a_translation(name):
    net = _net(name)
    src, mask = _batch([7, 3, 5, 2, 6])
    caps = length_caps(mask.sum(1), 2.0, 5, 50)
    batched, _ = greedy_decode(net, src, mask, 2, 3, caps)
    beamed = beam_search(net, src, mask, 2, 3, caps, width=3)
    for i in range(len(src)):
        n = int(mask[i].sum())
        alone, _ = greedy_decode(net, src[i : i + 1, :n], mask[i : i + 1, :n], 2, 3, caps[i : i + 1])
        assert alone[0] == batched[i]
        assert beam_search(net, src[i : i + 1, :n], mask[i : i + 1, :n], 2, 3, caps[i : i + 1], width=3)[0] == beamed[i]
    assert len({tuple(s) for s in batched}) > 1  # the check means something: translations differ


@pytest.mark.parametrize("name", list(NETS))
def test_beam_width_one_equals_greedy(name):
    net = _net(name)
    src, mask = _batch([6, 4, 8, 3], seed=1)
    caps = length_caps(mask.sum(1), 2.0, 5, 50)
    greedy, _ = greedy_decode(net, src, mask, 2, 3, caps)
    assert beam_search(net, src, mask, 2, 3, caps, width=1, length_penalty=0.6) == greedy


def test_beam_search_finds_a_more_likely_translation_than_greedy():
    net = _net("rnn_additive_bi")
    src, mask = _batch([6, 4, 8, 3, 5, 7, 4, 6], seed=2)
    caps = length_caps(mask.sum(1), 2.0, 5, 50)

    def logprob(seqs):
        tgt = torch.full((len(seqs), max(map(len, seqs)) + 2), 0)
        for i, s in enumerate(seqs):
            tgt[i, : len(s) + 2] = torch.tensor([2, *s, 3])
        with torch.no_grad():
            lp = net(src, mask, tgt[:, :-1]).log_softmax(-1).gather(2, tgt[:, 1:, None])[..., 0]
        return (lp * (tgt[:, 1:] != 0)).sum(1)

    greedy, _ = greedy_decode(net, src, mask, 2, 3, caps)
    beam = beam_search(net, src, mask, 2, 3, caps, width=5, length_penalty=0.0)  # alpha 0: raw log-probability
    assert (logprob(beam) >= logprob(greedy) - 1e-4).all()


def test_attention_ignores_padding():
    net = _net("rnn_additive_bi")
    src, mask = _batch([5, 2])
    seqs, att = greedy_decode(net, src, mask, 2, 3, length_caps(mask.sum(1), 2.0, 5, 50), keep_attention=True)
    assert att[1][:, 2:].abs().max() == 0  # no weight on padded source positions
    assert torch.allclose(att[1].sum(-1), torch.ones(att[1].shape[0]))


def test_transformer_masks():
    net = _net("transformer")
    src, mask = _batch([6, 3])
    tgt = torch.randint(4, V_TGT, (2, 5))
    with torch.no_grad():
        out = net(src, mask, tgt)
        changed = tgt.clone()
        changed[:, 3] = 4 if int(tgt[0, 3]) != 4 else 5
        assert torch.allclose(net(src, mask, changed)[:, :3], out[:, :3], atol=1e-5)  # causal: the future is unseen
        noisy = src.clone()
        noisy[1, 3:] = 7  # garbage under the source padding
        assert torch.allclose(net(noisy, mask, tgt)[1], out[1], atol=1e-5)  # source + memory padding masked
        padded_tgt = torch.cat([tgt, torch.zeros(2, 3, dtype=torch.long)], 1)
        assert torch.allclose(net(src, mask, padded_tgt)[:, :5], out, atol=1e-5)  # target padding masked
    with pytest.raises(LabError, match="joint_vocab"):
        TransformerSeq2Seq(V_SRC, V_TGT, share_embeddings=True)
    shared = TransformerSeq2Seq(V_TGT, V_TGT, d_model=32, share_embeddings=True, tie_output=True)
    assert shared.src_embedding is shared.tgt_embedding and shared.out.weight is shared.tgt_embedding.weight


def test_teacher_forcing_ratio_feeds_own_predictions():
    net = _net("rnn")
    src, mask = _batch([5, 4])
    tgt = torch.randint(4, V_TGT, (2, 6))
    with torch.no_grad():
        full = net(src, mask, tgt, teacher_forcing=1.0)
        torch.manual_seed(0)
        free = net(src, mask, tgt, teacher_forcing=0.0)
    assert torch.allclose(full[:, 0], free[:, 0])  # the first step sees <bos> in both
    assert not torch.allclose(full[:, 1:], free[:, 1:])


VOCAB = [
    "<pad>",
    "<unk>",
    "<bos>",
    "<eos>",
    "\u2581the",
    "\u2581cat",
    "\u2581sat",
    ".",
    "\u2581on",
    "\u2581mat",
    "\u2581a",
]


def test_bleu_equals_sacrebleu_with_specials_stripped():
    # hypothesis ids with <bos>, <unk>, <eos> and <pad> left in: all must go before scoring (the report kept <eos>)
    ids = [[2, 4, 5, 6, 8, 4, 9, 7, 3, 0, 0], [2, 4, 5, 1, 6, 7, 3]]
    hyps = [ids_to_text(s, VOCAB) for s in ids]
    assert hyps == ["the cat sat on the mat.", "the cat sat."]
    refs = ["the cat sat on a mat.", "the cat sat."]
    bleu, chrf = CorpusBLEU(), CorpusChrF()
    for h, r in zip(hyps, refs):  # one sentence at a time: the statistics add up to the corpus score
        bleu.update([h], [r])
        chrf.update([h], [r])
    expected = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert float(bleu.compute()) == pytest.approx(expected, abs=1e-9)
    assert float(chrf.compute()) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    # by hand: 13a tokens ("mat." -> "mat ."), 11 hypothesis and 11 reference tokens (brevity penalty 1);
    # clipped n-gram matches over both sentences: 1-grams 10/11, 2-grams 7/9, 3-grams 4/7, 4-grams 2/5
    by_hand = 100 * ((10 / 11) * (7 / 9) * (4 / 7) * (2 / 5)) ** 0.25
    assert expected == pytest.approx(by_hand, abs=1e-6)


def test_references_are_held_out_sentences_long_enough_for_4gram_bleu():
    # the report scored its 5 training pairs against 1-2 word references: no 4-gram exists, so 4-gram BLEU is 0 or
    # meaningless whatever the model says. Ours: corpus BLEU over the held-out split's whole sentences.
    bleu = CorpusBLEU()
    bleu.update(["va !", "au feu !"], ["va !", "au feu !"])
    assert float(bleu.compute()) == 0.0  # the degenerate case, even for perfect answers
    dm = TranslationDataModule(source="embedded")
    dm.setup("fit")
    refs = dm.dataset("test").target_text
    train = set(dm.texts("train")[0])
    assert len(refs) > 500 and not train & set(dm.texts("test")[0])
    assert sum(len(r.split()) >= 4 for r in refs) > 0.5 * len(refs)
    bleu = CorpusBLEU()
    bleu.update(refs, refs)
    assert float(bleu.compute()) == pytest.approx(100.0)


def test_task_translates_and_strips_specials():
    task = Seq2Seq(
        _net("rnn_dot"), target_vocab=[f"\u2581w{i}" if i > 3 else VOCAB[i] for i in range(V_TGT)], beam_width=3
    )
    src, mask = _batch([4, 6])
    for beam in (False, True):
        seqs, _ = task.translate(src, mask, beam=beam)
        texts = [task.to_text(s) for s in seqs]
        assert all("<" not in t for t in texts)
    tgt = torch.randint(4, V_TGT, (2, 5))
    tgt[:, 0] = 2
    tgt[1, 3:] = 0
    loss, logits, target = task._loss({"src_ids": src, "src_mask": mask, "tgt_ids": tgt}, 1.0)
    manual = torch.nn.functional.cross_entropy(logits.reshape(-1, V_TGT), target.reshape(-1), ignore_index=0)
    assert torch.allclose(loss, manual)  # padding ignored
    with pytest.raises(LabError, match="teacher_forcing"):
        Seq2Seq(_net("rnn"), teacher_forcing=1.5)
