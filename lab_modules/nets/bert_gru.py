"""The BERT + GRU report's model: frozen BERT -> 2-layer bidirectional GRU -> one logit (BCEWithLogits)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from lab_modules.nets.encoder_cache import CachedFrozenEncoder
from lab_modules.nets.pretrained import freeze, load_encoder


class BertGRU(nn.Module):
    """Frozen encoder outputs -> GRU (packed by ``lengths``, so padding never enters) ->
    dropout(concat of the last layer's final forward/backward states) -> linear.

    ``binary: true`` gives ONE logit (use with ``Classifier(binary=true)``); with a random-init
    ``BertConfig()`` (``encoder_config: {}``) it has 112,241,409 parameters, 2,759,169 trainable,
    as the report printed for bert-base-uncased. ``tokenizer`` (filled from the data): ``vocab`` is refused
    for a pretrained encoder (word-level ids).
    """

    def __init__(
        self,
        encoder: str | None = None,
        encoder_config: dict[str, Any] | None = None,
        vocab_size: int | None = None,
        num_classes: int = 2,
        hidden_size: int = 256,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.25,
        binary: bool = True,
        cache_encoder_outputs: bool = False,
        cache_dir: str | None = None,
        tokenizer: str | None = None,
    ) -> None:
        super().__init__()
        model = load_encoder(encoder, encoder_config, vocab_size, tokenizer)
        freeze(model)
        self.encoder = CachedFrozenEncoder(model, cache_encoder_outputs, cache_dir)
        self.rnn = nn.GRU(
            model.config.hidden_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        out = 1 if binary else num_classes
        if binary and num_classes != 2:
            raise ValueError(f"binary (one logit) needs 2 classes, the data has {num_classes}")
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), out)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, lengths: Tensor) -> Tensor:
        embedded = self.encoder(input_ids, attention_mask)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        last = torch.cat([h[-2], h[-1]], dim=-1) if self.rnn.bidirectional else h[-1]
        return self.out(self.dropout(last))
