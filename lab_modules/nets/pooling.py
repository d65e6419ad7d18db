"""Masked pooling over a sequence: padding never contributes."""

from __future__ import annotations

from torch import Tensor


def masked_mean(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``hidden`` (N x L x H) over the positions where ``mask`` (N x L) is 1."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
