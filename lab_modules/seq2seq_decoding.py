"""Greedy and beam-search decoding for any ``lab_modules.nets.seq2seq_base.Seq2SeqNet``.

Every sentence has its own length cap (``caps``, from its source length), so a translation never
depends on what else is in the batch. Beam width 1 is the greedy translation.
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


def gnmt_penalty(length: int, alpha: float) -> float:
    """GNMT length normalisation ``((5 + len) / 6) ** alpha`` (alpha 0: raw log-probability)."""
    return ((5.0 + length) / 6.0) ** alpha


def _best_reachable(score: float, length: int, cap: int, alpha: float) -> float:
    """The best normalised score a live hypothesis (raw log-probability ``score`` <= 0, ``length``
    tokens) can still reach: more tokens never raise the raw score, so it is ``score`` over the largest
    penalty of the lengths it can end with (``length + 1`` with ``<eos>`` next, up to ``cap + 1``)."""
    return score / max(gnmt_penalty(length + 1, alpha), gnmt_penalty(cap + 1, alpha))


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
    """Beam search with ``width`` live hypotheses per sentence; width 1 is :func:`greedy_decode`.

    A hypothesis ends with ``<eos>`` (its log-probability counted once, no token after it) or at its
    cap; ended ones are compared by length-normalised log-probability (GNMT penalty, ``<eos>`` counted
    in the length). A sentence stops when no live hypothesis can reach a better normalised score than
    the best ended one (or none is left), so a width above the number of possible outputs is an
    exhaustive search."""
    if int(width) <= 1:
        return greedy_decode(net, src_ids, src_mask, bos, eos, caps)[0]
    n, k = src_ids.shape[0], int(width)
    dev = src_ids.device
    state = net.select(net.encode(src_ids, src_mask), torch.arange(n, device=dev).repeat_interleave(k))
    prev = torch.full((n * k,), bos, dtype=torch.long, device=dev)
    scores = torch.full((n, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # one live hypothesis to start with
    hist: list[list[int]] = [[] for _ in range(n * k)]
    best: list[tuple[float, list[int]] | None] = [None] * n  # the best ended hypothesis per sentence
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
            alive, live = 0, []
            for s, idx in zip(top_s[i], top_i[i]):
                if s == float("-inf"):
                    break
                b, w = divmod(idx, v)
                seq = hist[i * k + b]
                if w == eos or t + 1 >= caps_l[i]:
                    done = seq if w == eos else seq + [w]
                    normalised = s / gnmt_penalty(len(done) + 1, length_penalty)
                    if best[i] is None or normalised > best[i][0]:
                        best[i] = (normalised, done)
                else:
                    new_scores[i, alive] = s
                    live.append(s)
                    rows[i * k + alive] = i * k + b
                    toks[i * k + alive] = w
                    alive += 1
                    if alive == k:
                        break
            reachable = max((_best_reachable(s, t + 1, caps_l[i], length_penalty) for s in live), default=float("-inf"))
            if alive == 0 or (best[i] is not None and reachable <= best[i][0]):
                active[i] = False
                new_scores[i] = float("-inf")
        if not any(active):
            break
        scores = new_scores
        index = torch.tensor(rows, device=dev)
        state = net.select(state, index)
        hist = [hist[r] + [w] for r, w in zip(rows, toks)]
        prev = torch.tensor(toks, device=dev)
    return [b[1] if b is not None else [] for b in best]
