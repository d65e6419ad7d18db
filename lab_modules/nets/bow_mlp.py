"""Bag-of-words MLP: token-count vectors (like a CountVectorizer) -> MLP."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def mlp_head(
    in_features: int, hidden: list[int], num_classes: int, dropout: float, layer_norm: bool = False
) -> nn.Sequential:
    """``in -> hidden[0] -> ... -> num_classes``: Linear [+ LayerNorm] + ReLU + Dropout per layer."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if layer_norm:
            layers.append(nn.LayerNorm(h))
        layers += [nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class BagOfWordsMLP(nn.Module):
    """The bag-of-words report's model: ``vocab_size`` word counts -> 512-256-128-64 -> classes (5,293,122
    parameters for a 10,000-word vocabulary and 2 classes). The counts are built on the fly from
    ``input_ids`` (padding not counted); ``binary`` gives presence (0/1) instead of counts."""

    def __init__(
        self,
        vocab_size: int = 10000,
        num_classes: int = 2,
        pad_index: int = 0,
        hidden: list[int] = [512, 256, 128, 64],  # noqa: B006 - jsonargparse needs a literal default
        dropout: float = 0.3,
        binary: bool = False,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.pad_index = pad_index
        self.binary = binary
        self.mlp = mlp_head(vocab_size, hidden, num_classes, dropout)

    def counts(self, input_ids: Tensor) -> Tensor:
        counts = torch.zeros(input_ids.shape[0], self.vocab_size, device=input_ids.device)
        counts.scatter_add_(1, input_ids, (input_ids != self.pad_index).float())
        return counts.clamp_max(1.0) if self.binary else counts

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.mlp(self.counts(input_ids))
