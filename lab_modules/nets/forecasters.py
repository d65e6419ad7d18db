"""Forecasters over a window of a series (N x lookback x input_size -> N x out_features)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from labcore.errors import LabError


class RNNForecaster(nn.Module):
    """A recurrent layer stack (``cell``: ``rnn`` = Elman/tanh, ``lstm`` or ``gru``) read at the last
    step, then a linear head. ``residual``: the head predicts the change from the window's last value
    of each target's input column, so an untrained net starts as the naive forecast. ``target_index``
    (filled from the data) is that column, or one column per target when there are several; the outputs
    are step-major (``out[h * K + k]`` for target k of K at horizon step h), as the data's targets."""

    def __init__(
        self,
        input_size: int = 1,
        out_features: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        cell: Literal["rnn", "lstm", "gru"] = "lstm",
        dropout: float = 0.0,
        residual: bool = False,
        target_index: int | list[int] | None = None,
    ) -> None:
        super().__init__()
        rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(
            input_size, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, out_features)
        self.residual = residual
        self.target_index = [target_index] if isinstance(target_index, int) else target_index
        if residual and not self.target_index:
            raise LabError(
                "residual forecaster: every target must be an input column; add the targets to "
                "--data.init_args.value_columns or set --model.init_args.net.init_args.residual false"
            )
        if residual and out_features % len(self.target_index) != 0:
            raise LabError(
                f"residual forecaster: out_features={out_features} is not a whole horizon of "
                f"{len(self.target_index)} targets (target_index={target_index}); remove out_features and "
                "target_index from the config (they are filled from the data)"
            )

    def forward(self, window: Tensor) -> Tensor:
        out, _ = self.rnn(window)
        y = self.head(self.dropout(out[:, -1]))
        if self.residual:  # each target's last value, repeated over the horizon (step-major)
            last = window[:, -1, self.target_index]
            y = y + last.repeat(1, y.shape[1] // last.shape[1])
        return y


class WindowMLP(nn.Module):
    """An MLP over the flattened window (``lookback * input_size`` inputs): the PM2.5 report's baseline."""

    def __init__(
        self,
        lookback: int = 10,
        input_size: int = 1,
        out_features: int = 1,
        hidden: list[int] = [64, 32],  # noqa: B006 - jsonargparse needs a literal default
        dropout: float = 0.0,
        activation: Literal["relu", "tanh"] = "relu",
    ) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        layers: list[nn.Module] = [nn.Flatten()]
        width = lookback * input_size
        for h in hidden:
            layers += [nn.Linear(width, h), act()] + ([nn.Dropout(dropout)] if dropout > 0 else [])
            width = h
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, window: Tensor) -> Tensor:
        return self.layers(window)
