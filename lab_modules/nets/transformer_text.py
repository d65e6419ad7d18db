"""From-scratch Transformer encoder classifier (TREC) and the one-layer attention toy model."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lab_modules.nets.attention import EncoderLayer, SinusoidalPositionalEncoding, scaled_dot_product
from lab_modules.nets.pooling import masked_mean


class TransformerTextClassifier(nn.Module):
    """Embedding * sqrt(d) + sinusoidal PE -> ``num_layers`` post-norm encoder layers (our
    MultiHeadAttention, padding masked) -> mean over real tokens -> linear.

    ``last_attention`` holds each layer's weights (N x heads x L x L) of the last forward, for
    the attention-heatmap callback.
    """

    def __init__(
        self,
        vocab_size: int = 10000,
        num_classes: int = 6,
        pad_index: int = 0,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 256,
        dropout: float = 0.1,
        max_len: int = 512,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_index)
        # std d^-0.5, so that embedding * sqrt(d) has unit scale, like the positional encoding
        # (with nn.Embedding's N(0, 1) the positions would drown in 11x larger word vectors)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        with torch.no_grad():
            self.embedding.weight[pad_index].zero_()
        self.positions = SinusoidalPositionalEncoding(d_model, max_len)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList([EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)])
        self.fc = nn.Linear(d_model, num_classes)
        self.last_attention: list[Tensor] = []

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        x = self.dropout(self.positions(self.embedding(input_ids) * math.sqrt(self.d_model)))
        self.last_attention = []
        for layer in self.layers:
            x, w = layer(x, attention_mask)
            self.last_attention.append(w.detach())
        return self.fc(masked_mean(x, attention_mask))


class AttentionToyClassifier(nn.Module):
    """The attention toy: embedding (d = 8) + sinusoidal positions -> one scaled dot-product
    self-attention (Q, K, V projections, padding masked) -> mean over real tokens -> a small
    ReLU head (``head_hidden``; 0 = linear; negation flips polarity, an XOR a linear read-out of a
    mean cannot express) -> classes. ``last_attention``: N x 1 x L x L."""

    def __init__(
        self,
        vocab_size: int = 100,
        num_classes: int = 2,
        pad_index: int = 0,
        d_model: int = 8,
        max_len: int = 64,
        head_hidden: int = 16,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_index)
        self.positions = SinusoidalPositionalEncoding(d_model, max_len)
        self.q, self.k, self.v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.fc = (
            nn.Sequential(nn.Linear(d_model, head_hidden), nn.ReLU(), nn.Linear(head_hidden, num_classes))
            if head_hidden
            else nn.Linear(d_model, num_classes)
        )
        self.last_attention: list[Tensor] = []

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        x = self.positions(self.embedding(input_ids))
        out, w = scaled_dot_product(self.q(x), self.k(x), self.v(x), attention_mask)
        self.last_attention = [w.detach().unsqueeze(1)]
        return self.fc(masked_mean(out, attention_mask))
