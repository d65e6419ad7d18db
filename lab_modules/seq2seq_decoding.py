"""Greedy and beam-search decoding for any ``lab_modules.nets.seq2seq_base.Seq2SeqNet``.

Every sentence has its own length cap (``caps``, from its source length), so a translation never
depends on what else is in the batch. Beam width 1 returns exactly the greedy translation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lab_modules.nets.seq2seq_base import Seq2SeqNet


def length_caps(src_lengths: Tensor, ratio: float, extra: int, limit: int) -> Tensor:
    """Longest translation (tokens, ``<eos>`` included) per sentence: ``ratio * len + extra``, at most ``limit``."""
    return (src_lengths.float() * ratio + extra).long().clamp(min=1, max=limit)


@torch.no_grad()
def greedy_decode(
    net: Seq2SeqNet, src_ids: Tensor, src_mask: Tensor, bos: int, eos: int, caps: Tensor, keep_attention: bool = False
) -> tuple[list[list[int]], list[Tensor] | None]:
    """Token ids per sentence (no ``<bos>`` / ``<eos>``) and, with ``keep_attention``, the attention
    of each generated token over the source per sentence (T x [heads x] S)."""
    n = src_ids.shape[0]
    state = net.encode(src_ids, src_mask)
    prev = torch.full((n,), bos, dtype=torch.long, device=src_ids.device)
    done = torch.zeros(n, dtype=torch.bool, device=src_ids.device)
    steps, attns = [], []
    for t in range(int(caps.max())):
        logits, state, att = net.decode_step(state, prev)
        tok = torch.where(done, torch.full_like(prev, eos), logits.argmax(-1))
        steps.append(tok)
        if keep_attention and att is not None:
            attns.append(att.float().cpu())
        done |= (tok == eos) | (t + 1 >= caps)
        prev = tok
        if bool(done.all()):
            break
    out = torch.stack(steps, 1).tolist()
    seqs = []
    for row, cap in zip(out, caps.tolist()):
        row = row[:cap]
        seqs.append(row[: row.index(eos)] if eos in row else row)
    if not keep_attention or not attns:
        return seqs, None
    att = torch.stack(attns, 1)  # N x T x [heads x] S
    return seqs, [att[i, : len(s) + 1] for i, s in enumerate(seqs)]


def _penalty(length: int, alpha: float) -> float:
    """GNMT length normalisation ``((5 + len) / 6) ** alpha`` (alpha 0: raw log-probability)."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    net: Seq2SeqNet,
    src_ids: Tensor,
    src_mask: Tensor,
    bos: int,
    eos: int,
    caps: Tensor,
    width: int = 5,
    length_penalty: float = 0.6,
) -> list[list[int]]:
    """Beam search: ``width`` live hypotheses per sentence; a sentence is done once it has ``width``
    finished ones (ended by ``<eos>`` or by its cap); the best by length-normalised log-probability wins."""
    n, k = src_ids.shape[0], max(1, int(width))
    dev = src_ids.device
    state = net.select(net.encode(src_ids, src_mask), torch.arange(n, device=dev).repeat_interleave(k))
    prev = torch.full((n * k,), bos, dtype=torch.long, device=dev)
    scores = torch.full((n, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # one live hypothesis to start with
    hist: list[list[int]] = [[] for _ in range(n * k)]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
    active = [True] * n
    caps_l = caps.tolist()
    for t in range(int(caps.max())):
        logits, state, _ = net.decode_step(state, prev)
        logp = logits.float().log_softmax(-1)
        v = logp.shape[-1]
        cand = (scores[:, :, None] + logp.view(n, k, v)).view(n, k * v)
        top_s, top_i = cand.topk(min(2 * k, k * v), dim=1)
        top_s, top_i = top_s.tolist(), top_i.tolist()
        new_scores = torch.full((n, k), float("-inf"), device=dev)
        rows = [i * k for i in range(n) for _ in range(k)]
        toks = [eos] * (n * k)
        for i in range(n):
            if not active[i]:
                continue
            alive = 0
            for s, idx in zip(top_s[i], top_i[i]):
                if s == float("-inf"):
                    break
                b, w = divmod(idx, v)
                seq = hist[i * k + b]
                if w == eos or t + 1 >= caps_l[i]:
                    done = seq if w == eos else seq + [w]
                    finished[i].append((s / _penalty(len(done) + 1, length_penalty), done))
                    if len(finished[i]) >= k:
                        break
                else:
                    new_scores[i, alive] = s
                    rows[i * k + alive] = i * k + b
                    toks[i * k + alive] = w
                    alive += 1
                    if alive == k:
                        break
            if len(finished[i]) >= k or alive == 0:
                active[i] = False
                new_scores[i] = float("-inf")
        if not any(active):
            break
        scores = new_scores
        index = torch.tensor(rows, device=dev)
        state = net.select(state, index)
        hist = [hist[r] + [w] for r, w in zip(rows, toks)]
        prev = torch.tensor(toks, device=dev)
    return [max(f, key=lambda x: x[0])[1] if f else [] for f in finished]
