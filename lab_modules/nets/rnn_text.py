"""Embedding -> LSTM / GRU (packed sequences) -> linear, for sentence classification."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence


class RNNTextClassifier(nn.Module):
    """``vocab_size`` and ``pad_index`` come from the data. Sequences are packed, so padding
    never enters the recurrence; the output uses the last layer's final hidden state (both
    directions when ``bidirectional``)."""

    def __init__(
        self,
        vocab_size: int = 10000,
        num_classes: int = 2,
        pad_index: int = 0,
        embedding_dim: int = 100,
        hidden_size: int = 256,
        num_layers: int = 1,
        cell: Literal["lstm", "gru"] = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, input_ids: Tensor, lengths: Tensor) -> Tensor:
        x = self.dropout(self.embedding(input_ids))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        h = h[0] if isinstance(h, tuple) else h  # LSTM: (h, c)
        if self.rnn.bidirectional:
            last = torch.cat([h[-2], h[-1]], dim=-1)
        else:
            last = h[-1]
        return self.fc(self.dropout(last))
