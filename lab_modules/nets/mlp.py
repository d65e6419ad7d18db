"""Multi-layer perceptron for flattened images or feature tables."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn


class MLP(nn.Module):
    """``in_features -> hidden[0] -> ... -> num_classes`` with optional BatchNorm and dropout.

    Accepts ``image`` (any shape, flattened) or ``features`` (``N x F``), so the same net
    serves MNIST and tabular labs.
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: list[int] = [256, 128, 64],  # noqa: B006 - jsonargparse needs a literal default
        num_classes: int = 10,
        batchnorm: bool = True,
        dropout: float = 0.2,
        activation: Literal["relu", "tanh", "sigmoid"] = "relu",
        init: Literal["default", "xavier", "kaiming"] = "xavier",
    ) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
        self.layers = nn.Sequential(
            nn.Flatten(), *dense_layers(in_features, hidden, num_classes, act, batchnorm, dropout)
        )
        if init != "default":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    if init == "xavier":
                        nn.init.xavier_uniform_(m.weight)
                    else:
                        nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

    def forward(self, image: Tensor | None = None, features: Tensor | None = None) -> Tensor:
        x = image if image is not None else features
        if x is None:
            raise ValueError("MLP needs an `image` or a `features` tensor in the batch")
        return self.layers(x)

    @property
    def first_layer(self) -> nn.Linear:
        return self.layers[1]  # layers[0] is Flatten


def dense_layers(
    in_features: int, hidden: list[int], out_features: int, act: type[nn.Module], batchnorm: bool, dropout: float
) -> list[nn.Module]:
    """Linear [-> BatchNorm] -> activation [-> Dropout] per hidden width, then the output Linear."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(act())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    return layers
