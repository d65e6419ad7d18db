"""Beam search against exhaustive search on a tiny model: length-normalised ends, <eos> counted once."""

from __future__ import annotations

import pytest
import torch

from lab_modules.nets.rnn_seq2seq import RNNSeq2Seq
from lab_modules.nets.seq2seq_base import Seq2SeqNet
from lab_modules.nets.transformer_seq2seq import TransformerSeq2Seq
from lab_modules.seq2seq_decoding import beam_search, gnmt_penalty, greedy_decode

V_SRC, V_TGT, BOS, EOS = 9, 6, 2, 3  # 6 target tokens: the output space is small enough to enumerate


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _net(kind: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "rnn":
        net = RNNSeq2Seq(V_SRC, V_TGT, embedding_dim=8, hidden_size=12)
    else:
        net = TransformerSeq2Seq(V_SRC, V_TGT, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1)
    with torch.no_grad():
        net.out.weight.mul_(3.0)  # peaked enough that short and long outputs compete
    return net.eval()


def _logprob(net, src, mask, tokens: list[int]) -> float:
    """log p(tokens | source), one decode step per token."""
    state = net.encode(src, mask)
    prev, total = torch.tensor([BOS]), 0.0
    for w in tokens:
        logits, state, _ = net.decode_step(state, prev)
        total += float(logits.double().log_softmax(-1)[0, w])
        prev = torch.tensor([w])
    return total


def _exhaustive(net, src, mask, cap: int, alpha: float) -> tuple[float, list[int]]:
    """Every output: y + <eos> with len(y) < cap, or cap tokens without <eos> (cut by the cap); one
    decode step per prefix (depth first)."""
    best = [float("-inf"), []]

    def visit(state, prev: int, prefix: list[int], score: float) -> None:
        logits, state, _ = net.decode_step(state, torch.tensor([prev]))
        logp = logits.double().log_softmax(-1)[0].tolist()
        for w in range(V_TGT):
            ended = w == EOS or len(prefix) + 1 == cap
            if ended:
                out = prefix if w == EOS else prefix + [w]
                normalised = (score + logp[w]) / gnmt_penalty(len(out) + 1, alpha)
                if normalised > best[0]:
                    best[:] = [normalised, out]
            else:
                visit(state, w, prefix + [w], score + logp[w])

    visit(net.encode(src, mask), BOS, [], 0.0)
    return best[0], best[1]


@pytest.mark.parametrize("kind", ["rnn", "transformer"])
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
def test_a_wide_beam_is_the_exhaustive_search(kind, alpha):
    cap = 4
    for seed in range(3):
        net = _net(kind, seed)
        src = torch.randint(4, V_SRC, (1, 5), generator=torch.Generator().manual_seed(seed))
        mask = torch.ones_like(src)
        score, expected = _exhaustive(net, src, mask, cap, alpha)
        got = beam_search(net, src, mask, BOS, EOS, torch.tensor([cap]), width=V_TGT**cap, length_penalty=alpha)[0]
        ended = len(got) < cap
        got_score = _logprob(net, src, mask, got + ([EOS] if ended else [])) / gnmt_penalty(len(got) + 1, alpha)
        assert got_score == pytest.approx(score, abs=1e-9), (seed, got, expected)
        assert got == expected
        assert EOS not in got  # nothing after <eos>, and <eos> itself is not part of the output


def test_a_beam_never_scores_below_greedy_on_its_objective():
    # the old beam stopped a sentence once it had `width` ended hypotheses, however short and unlikely
    # they were; a wide-enough beam must never score below greedy on its own objective (alpha 0: raw log p)
    for seed in range(6):
        net = _net("rnn", seed)
        src = torch.randint(4, V_SRC, (1, 6), generator=torch.Generator().manual_seed(seed))
        mask, caps = torch.ones_like(src), torch.tensor([6])
        greedy = greedy_decode(net, src, mask, BOS, EOS, caps)[0][0]
        beam = beam_search(net, src, mask, BOS, EOS, caps, width=4, length_penalty=0.0)[0]

        scores = [_logprob(net, src, mask, y + ([EOS] if len(y) < 6 else [])) for y in (beam, greedy)]
        assert scores[0] >= scores[1] - 1e-9, seed


A, B = 4, 5


class TableNet(Seq2SeqNet):
    """Next-token probabilities from a table of (previous token, position): an early <eos> is likely,
    but "A A A <eos>" is the most likely output."""

    def encode(self, src_ids, src_mask):
        return {"pos": torch.zeros(src_ids.shape[0], dtype=torch.long)}

    def decode_step(self, state, prev):
        probs = torch.full((len(prev), V_TGT), 1e-9, dtype=torch.float64)
        for i, (p, pos) in enumerate(zip(prev.tolist(), state["pos"].tolist())):
            if p == BOS:
                row = {EOS: 0.3, A: 0.5, B: 0.2}
            elif p == A:
                row = {A: 0.85, EOS: 0.1, B: 0.05} if pos < 3 else {EOS: 0.95, A: 0.04, B: 0.01}
            else:
                row = {EOS: 0.9, B: 0.05, A: 0.05}
            for w, q in row.items():
                probs[i, w] = q
        return probs.log().float(), {"pos": state["pos"] + 1}, None


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_early_endings_do_not_end_the_search(alpha):
    # width 2: after two steps "<eos>" and "B <eos>" have ended while "A A" is alive; the old beam
    # stopped the sentence there (width ended hypotheses) and returned the empty translation
    net, src = TableNet(), torch.ones(1, 3, dtype=torch.long)
    mask, caps = torch.ones_like(src), torch.tensor([5])
    score, expected = _exhaustive(net, src, mask, 5, alpha)
    assert expected == [A, A, A]
    assert beam_search(net, src, mask, BOS, EOS, caps, width=2, length_penalty=alpha) == [expected]
