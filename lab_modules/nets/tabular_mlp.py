"""MLP over a feature table (``x``: N x F): the linear model, house-price MLP, Titanic and fraud nets."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from lab_modules.nets.mlp import dense_layers


class TabularMLP(nn.Module):
    """``in_features -> hidden[0] -> ... -> out_features``; ``hidden: []`` is the linear model ``Linear(in, out)``.

    ``in_features`` and ``out_features`` (classes, or regression targets) are filled from the data.
    ``dropout`` follows every hidden activation (the regularisation lab's dropout 0.3); no BatchNorm
    by default, as the reports' tabular nets had none.
    """

    def __init__(
        self,
        in_features: int = 8,
        out_features: int = 1,
        hidden: list[int] = [64],  # noqa: B006 - jsonargparse needs a literal default
        dropout: float = 0.0,
        batchnorm: bool = False,
        activation: Literal["relu", "tanh"] = "relu",
    ) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        self.layers = nn.Sequential(*dense_layers(in_features, hidden, out_features, act, batchnorm, dropout))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
