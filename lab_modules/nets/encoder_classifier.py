"""Pretrained encoder (frozen, or its last layers trainable) + pooling + MLP head."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from lab_modules.nets.bow_mlp import mlp_head
from lab_modules.nets.encoder_cache import CachedFrozenEncoder
from lab_modules.nets.pooling import masked_mean
from lab_modules.nets.pretrained import keep_frozen_in_eval, load_encoder, unfreeze_last_layers


class EncoderClassifier(nn.Module):
    """BERT-family encoder -> mean over real tokens (or ``[CLS]``) -> MLP head.

    * ``trainable_layers: 0``: a frozen sentence-embedding model (the bag-of-words report's "same MLP on frozen
      embeddings": ``hidden [512, 256, 128, 64]``); ``cache_encoder_outputs`` then computes the
      encoder once per text and reads it from a memory-mapped disk cache afterwards.
    * ``trainable_layers: 2``: the TREC report's fine-tuning (last two layers + head
      ``hidden [256]``, LayerNorm, dropout 0.3).

    ``tokenizer`` (filled from the data): ``vocab`` is refused for a pretrained encoder (word-level ids).
    """

    def __init__(
        self,
        encoder: str | None = None,
        encoder_config: dict[str, Any] | None = None,
        vocab_size: int | None = None,
        num_classes: int = 2,
        trainable_layers: int = 0,
        hidden: list[int] = [256],  # noqa: B006 - jsonargparse needs a literal default
        layer_norm: bool = True,
        dropout: float = 0.3,
        pooling: Literal["mean", "cls"] = "mean",
        cache_encoder_outputs: bool = False,
        cache_dir: str | None = None,
        tokenizer: str | None = None,
    ) -> None:
        super().__init__()
        model = load_encoder(encoder, encoder_config, vocab_size, tokenizer)
        unfreeze_last_layers(model, trainable_layers)
        if cache_encoder_outputs and trainable_layers > 0:
            raise ValueError("cache_encoder_outputs needs a fully frozen encoder (trainable_layers: 0)")
        self.frozen = trainable_layers == 0
        self.encoder = CachedFrozenEncoder(model, cache_encoder_outputs, cache_dir) if self.frozen else model
        self.pooling = pooling
        self.head = mlp_head(model.config.hidden_size, hidden, num_classes, dropout, layer_norm)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        if self.frozen:
            hidden = self.encoder(input_ids, attention_mask)
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = hidden[:, 0] if self.pooling == "cls" else masked_mean(hidden, attention_mask)
        return self.head(pooled)

    def train(self, mode: bool = True) -> EncoderClassifier:
        super().train(mode)
        keep_frozen_in_eval(self.encoder)
        return self
