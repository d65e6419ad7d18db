"""Our own Transformer pieces (the TREC exercise is about writing them): scaled dot-product
multi-head attention with padding masks, position-wise feed-forward, sinusoidal positions,
post-norm encoder layers. Tested against ``torch.nn.functional.scaled_dot_product_attention``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def scaled_dot_product(
    q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None, dropout: nn.Module | None = None
) -> tuple[Tensor, Tensor]:
    """``softmax(q k^T / sqrt(d)) v``; ``key_mask`` (N x Lk, 1 = real token) hides padded keys.

    Returns the output and the attention weights (``... x Lq x Lk``).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if key_mask is not None:
        mask = key_mask.bool().view(key_mask.shape[0], *([1] * (scores.dim() - 2)), key_mask.shape[-1])
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    weights = torch.nan_to_num(weights)  # a row with no real key at all (never in practice) -> zeros
    out = (dropout(weights) if dropout is not None else weights) @ v
    return out, weights


class MultiHeadAttention(nn.Module):
    """``d_model`` split into ``num_heads`` heads; Q, K, V and output projections."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: Tensor) -> Tensor:  # N x L x D -> N x h x L x d
        n, length, _ = x.shape
        return x.view(n, length, self.num_heads, self.d_head).transpose(1, 2)

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, key_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(key)), self._heads(self.v_proj(value))
        out, weights = scaled_dot_product(q, k, v, key_mask, self.dropout)
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], self.d_model)
        return self.out_proj(out), weights


class PositionwiseFeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SinusoidalPositionalEncoding(nn.Module):
    """``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(...)``, added to the input."""

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError(
                f"sequence of {x.shape[1]} tokens > max_len={self.pe.shape[0]}; "
                "raise max_len or lower the data's max_length"
            )
        return x + self.pe[: x.shape[1]]


class EncoderLayer(nn.Module):
    """Post-norm (as in "Attention is all you need"): ``x = LN(x + Drop(MHA(x)))``, ``x = LN(x + Drop(FFN(x)))``."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: Tensor, key_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a, weights = self.attn(x, x, x, key_mask)
        x = self.norm1(x + self.drop1(a))
        x = self.norm2(x + self.drop2(self.ffn(x)))
        return x, weights
