"""LSTM encoder-decoder for translation, without attention (the report's) or with additive / dot attention."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lab_modules.nets.seq2seq_base import Seq2SeqNet, State
from labcore.errors import LabError


class Attention(nn.Module):
    """Scores decoder query q (N x H) against encoder outputs; padded source positions get zero weight.

    ``additive`` (Bahdanau): ``v^T tanh(W_q q + W_k k)``; ``dot`` (Luong's general form):
    ``q . W_k k`` (W_k maps the encoder width, 2H when bidirectional, to H).
    """

    def __init__(self, kind: Literal["additive", "dot"], query_size: int, key_size: int, size: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.key = nn.Linear(key_size, size, bias=False)
            self.query = nn.Linear(query_size, size)
            self.v = nn.Linear(size, 1, bias=False)
        else:
            self.key = nn.Linear(key_size, query_size, bias=False)

    def keys(self, enc: Tensor) -> Tensor:
        """Projected encoder outputs, computed once per sentence."""
        return self.key(enc)

    def forward(self, query: Tensor, keys: Tensor, enc: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.kind == "additive":
            scores = self.v(torch.tanh(self.query(query)[:, None, :] + keys)).squeeze(-1)
        else:
            scores = torch.bmm(keys, query[:, :, None]).squeeze(-1)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        return torch.bmm(weights[:, None, :], enc).squeeze(1), weights


class RNNSeq2Seq(Seq2SeqNet):
    """Embedding -> LSTM encoder (packed: padding never enters it) -> LSTM decoder -> vocabulary.

    Without attention the decoder sees the source only through the encoder's final state (the report's
    model). With attention (``additive`` or ``dot``) it attends over every encoder output at each
    step, the context goes into the decoder's input (input feeding) and into the output layer.
    A bidirectional encoder's final states are bridged to the decoder size (linear + tanh).

    Args:
        src_vocab_size / tgt_vocab_size / pad_index: filled from the data.
        embedding_dim / hidden_size / num_layers / dropout: the report's: 256 / 512 / 1 / 0.
        attention: ``none``, ``additive`` or ``dot``.
        bidirectional: bidirectional encoder.
        attention_size: hidden size of the additive scorer (default: hidden_size).
    """

    def __init__(
        self,
        src_vocab_size: int = 1000,
        tgt_vocab_size: int = 1000,
        pad_index: int = 0,
        embedding_dim: int = 256,
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.0,
        attention: Literal["none", "additive", "dot"] = "none",
        bidirectional: bool = False,
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if attention not in ("none", "additive", "dot"):
            raise LabError(f"RNNSeq2Seq: attention={attention!r}; pass none, additive or dot")
        self.pad_index = pad_index
        self.num_layers, self.hidden_size, self.attention_kind = num_layers, hidden_size, attention
        self.directions = 2 if bidirectional else 1
        enc_size = hidden_size * self.directions
        self.src_embedding = nn.Embedding(src_vocab_size, embedding_dim, padding_idx=pad_index)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_dim, padding_idx=pad_index)
        inner = dropout if num_layers > 1 else 0.0
        self.encoder = nn.LSTM(
            embedding_dim, hidden_size, num_layers, batch_first=True, dropout=inner, bidirectional=bidirectional
        )
        self.bridge_h = nn.Linear(enc_size, hidden_size) if bidirectional else None
        self.bridge_c = nn.Linear(enc_size, hidden_size) if bidirectional else None
        self.attention = (
            Attention(attention, hidden_size, enc_size, attention_size or hidden_size) if attention != "none" else None
        )
        context = enc_size if self.attention is not None else 0
        self.decoder = nn.LSTM(embedding_dim + context, hidden_size, num_layers, batch_first=True, dropout=inner)
        self.out = nn.Linear(hidden_size + context + (embedding_dim if context else 0), tgt_vocab_size)
        self.dropout = nn.Dropout(dropout)

    def _final(self, h: Tensor, bridge: nn.Linear | None) -> Tensor:
        """(layers * dirs) x N x H -> N x layers x H for the decoder."""
        n = h.shape[1]
        h = h.view(self.num_layers, self.directions, n, self.hidden_size).permute(2, 0, 1, 3)
        h = h.reshape(n, self.num_layers, self.directions * self.hidden_size)
        return torch.tanh(bridge(h)) if bridge is not None else h

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> State:
        lengths = src_mask.sum(1).clamp(min=1).cpu()
        emb = self.dropout(self.src_embedding(src_ids))
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        enc, _ = pad_packed_sequence(out, batch_first=True, total_length=src_ids.shape[1])
        state = {"h": self._final(h, self.bridge_h), "c": self._final(c, self.bridge_c)}
        if self.attention is not None:
            state.update(enc=enc, keys=self.attention.keys(enc), mask=src_mask.bool())
        return state

    def decode_step(self, state: State, prev: Tensor) -> tuple[Tensor, State, Tensor | None]:
        emb = self.dropout(self.tgt_embedding(prev))  # N x E
        hc = (state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous())
        weights = None
        if self.attention is None:
            out, (h, c) = self.decoder(emb[:, None, :], hc)
            logits = self.out(self.dropout(out[:, 0]))
        else:
            context, weights = self.attention(hc[0][-1], state["keys"], state["enc"], state["mask"])
            out, (h, c) = self.decoder(torch.cat([emb, context], -1)[:, None, :], hc)
            logits = self.out(self.dropout(torch.cat([out[:, 0], context, emb], -1)))
        new = dict(state)
        new["h"], new["c"] = h.transpose(0, 1), c.transpose(0, 1)
        return logits, new, weights
