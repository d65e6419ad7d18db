"""The TREC report's prefix tuning of a frozen BERT-like encoder."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lab_modules.nets.bow_mlp import mlp_head
from lab_modules.nets.pooling import masked_mean
from lab_modules.nets.pretrained import freeze, load_encoder


class PrefixTuningClassifier(nn.Module):
    """Frozen encoder; ``prefix_length`` trainable vectors are inserted after the embedding
    layer (before the first transformer layer), the attention mask is extended with ones for
    them, and the head reads the mean over the *real* tokens (neither prefix nor padding).
    ``prefix_length: null`` (or 0) trains the head only (the baseline). Needs a BERT-like encoder
    (``embeddings`` + ``encoder``). ``tokenizer`` (filled from the data): ``vocab`` is refused for a
    pretrained encoder (word-level ids)."""

    def __init__(
        self,
        encoder: str | None = None,
        encoder_config: dict[str, Any] | None = None,
        vocab_size: int | None = None,
        num_classes: int = 6,
        prefix_length: int | None = 20,
        hidden: list[int] = [],  # noqa: B006 - jsonargparse needs a literal default
        dropout: float = 0.1,
        init_std: float = 0.02,
        tokenizer: str | None = None,
    ) -> None:
        super().__init__()
        self.bert = load_encoder(encoder, encoder_config, vocab_size, tokenizer)
        if not (hasattr(self.bert, "embeddings") and hasattr(self.bert, "encoder")):
            raise ValueError(
                f"{type(self.bert).__name__}: prefix tuning needs a BERT-like encoder (embeddings + encoder)"
            )
        freeze(self.bert)
        h = self.bert.config.hidden_size
        self.prefix = nn.Parameter(torch.randn(prefix_length, h) * init_std) if prefix_length else None
        self.head = mlp_head(h, hidden, num_classes, dropout)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        hidden = self.bert.embeddings(input_ids=input_ids)
        mask = attention_mask
        if self.prefix is not None:
            n, p = input_ids.shape[0], self.prefix.shape[0]
            hidden = torch.cat([self.prefix.unsqueeze(0).expand(n, -1, -1).to(hidden.dtype), hidden], dim=1)
            mask = torch.cat([attention_mask.new_ones(n, p), attention_mask], dim=1)
        ext = create_bidirectional_mask(config=self.bert.config, inputs_embeds=hidden, attention_mask=mask)
        out = self.bert.encoder(hidden, attention_mask=ext).last_hidden_state
        if self.prefix is not None:
            out = out[:, self.prefix.shape[0] :]
        return self.head(masked_mean(out, attention_mask))

    def train(self, mode: bool = True) -> PrefixTuningClassifier:
        super().train(mode)
        self.bert.eval()  # frozen
        return self
