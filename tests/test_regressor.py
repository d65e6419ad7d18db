"""lab_modules.regressor.Regressor: loss on scaled targets, metrics and predictions in real units."""

from __future__ import annotations

import csv
import math

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from callbacks import PredictionWriter
from lab_modules import LabTask, Regressor
from labcore.errors import LabError


class Fixed(nn.Module):
    """Predicts ``features * 0`` + a constant (scaled units): known errors, no training."""

    def __init__(self, value: float, out: int = 1) -> None:
        super().__init__()
        self.value, self.out = value, out
        self.dummy = nn.Linear(1, 1)

    def forward(self, features: Tensor) -> Tensor:
        return torch.full((features.shape[0], self.out), self.value) + 0 * self.dummy.weight.sum()


class Dicts(Dataset):
    def __init__(self, features: Tensor, y: Tensor, naive: Tensor | None = None) -> None:
        self.features, self.y, self.naive = features, y, naive

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = {"features": self.features[i], "y": self.y[i]}
        if self.naive is not None:
            item["naive"] = self.naive[i]
        return item


def _trainer(tmp_path, **kw) -> L.Trainer:
    return L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kw,
    )


def test_metrics_are_in_real_units_not_scaled(tmp_path):
    """The series reports gave the MSE of min-max scaled values: ours are in the data's units."""
    y = torch.tensor([[0.0], [1.0], [-1.0], [2.0]])  # scaled targets
    naive = torch.tensor([[0.5], [0.5], [0.5], [0.5]])
    loader = DataLoader(Dicts(torch.zeros(4, 3), y, naive), batch_size=3)  # uneven: the loss mean is weighted
    model = Regressor(Fixed(1.0), target_shift=[20.0], target_scale=[10.0], target_names=["temp"])
    result = _trainer(tmp_path).test(model, loader, verbose=False)[0]
    err = torch.tensor([1.0, 0.0, 2.0, -1.0])  # prediction - target, scaled
    assert result["test/loss"] == pytest.approx(float((err**2).mean()))  # what is optimised: scaled
    assert result["test/mse"] == pytest.approx(float((err**2).mean()) * 100)
    assert result["test/rmse"] == pytest.approx(float((err**2).mean().sqrt()) * 10)
    assert result["test/mae"] == pytest.approx(float(err.abs().mean()) * 10)
    real_y = y.flatten() * 10 + 20
    r2 = 1 - ((err * 10) ** 2).sum() / ((real_y - real_y.mean()) ** 2).sum()
    assert result["test/r2"] == pytest.approx(float(r2))
    assert result["test/baseline_rmse"] == pytest.approx(float(((naive - y) ** 2).mean().sqrt()) * 10)


def test_a_nan_loss_shows_in_the_epoch_mean(tmp_path):
    y = torch.tensor([[0.0], [float("nan")], [1.0]])
    result = _trainer(tmp_path).test(
        Regressor(Fixed(1.0)), DataLoader(Dicts(torch.zeros(3, 1), y), batch_size=1), verbose=False
    )[0]
    assert math.isnan(result["test/loss"])


def test_per_column_shift_and_scale_and_round_trip():
    model = Regressor(Fixed(0.0, out=2), target_shift=[1.0, -5.0], target_scale=[2.0, 0.5], target_names=["a", "b"])
    scaled = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    torch.testing.assert_close(model.to_real(scaled), torch.tensor([[1.0, -5.0], [3.0, -4.0]]))
    torch.testing.assert_close(model.to_scaled(model.to_real(scaled)), scaled)


def test_predictions_are_written_in_real_units(tmp_path):
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    model = Regressor(Fixed(0.5, out=2), target_shift=[10.0, 0.0], target_scale=[2.0, 4.0], target_names=["a", "b"])
    trainer = _trainer(tmp_path, callbacks=[PredictionWriter()])
    trainer.predict(model, DataLoader(Dicts(torch.zeros(3, 1), y), batch_size=2), return_predictions=False)
    with open(tmp_path / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "pred_a", "pred_b", "target_a", "target_b"]
    assert [float(r["pred_a"]) for r in rows] == [11.0] * 3 and [float(r["pred_b"]) for r in rows] == [2.0] * 3
    assert [float(r["target_b"]) for r in rows] == [4.0, 0.0, 2.0]
    assert isinstance(model, LabTask) and model.prediction_kind == "values"


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_each_loss_learns_a_linear_target(tmp_path, loss):
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    model = Regressor(nn.Linear(3, 1), loss=loss, optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    data = DataLoader(_LinearInput(x, y), batch_size=32, shuffle=True)
    _trainer(tmp_path, max_epochs=6).fit(model, data)
    result = _trainer(tmp_path).test(model, DataLoader(_LinearInput(x, y), batch_size=64), verbose=False)[0]
    assert result["test/r2"] > 0.95, result


class _LinearInput(Dicts):
    """nn.Linear's forward argument is called ``input``."""

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"input": self.features[i], "y": self.y[i]}


def test_bad_options_are_one_line_errors():
    with pytest.raises(LabError, match="loss"):
        Regressor(Fixed(0.0), loss="rmse")
    with pytest.raises(LabError, match="different lengths"):
        Regressor(Fixed(0.0), target_shift=[0.0, 1.0], target_scale=[1.0, 1.0, 1.0])
    model = Regressor(Fixed(0.0, out=3))
    with pytest.raises(LabError, match="output size to 2"):
        model.predict_scaled({"features": torch.zeros(4, 1), "y": torch.zeros(4, 2)})
