"""One logging idiom: training epoch means are batch-size weighted torchmetrics means logged through ``self.log``
(a NaN loss still shows), and step values reach ``trainer.callback_metrics`` so callbacks can follow them."""

from __future__ import annotations

import csv
import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from lab_modules import VAE, Classifier, LabTask, Regressor
from lab_modules.nets import MLP, MLPVAE
from lab_modules.task import batch_mean


class Dicts(Dataset):
    """Items ``{name: tensor[i]}``: the dict batches the task modules read."""

    def __init__(self, **tensors: Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class Linear(nn.Module):
    """A linear regression net reading the batch's ``features``."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def forward(self, features: Tensor) -> Tensor:
        return self.layer(features)


def _data(kind: str) -> Dicts:
    g = torch.Generator().manual_seed(0)
    if kind == "classifier":
        x = torch.randn(11, 4, generator=g)
        return Dicts(features=x, label=(x[:, 0] > 0).long())
    if kind == "regressor":
        x = torch.randn(11, 3, generator=g)
        return Dicts(features=x, y=x[:, :1] * 2 + 1)
    return Dicts(image=torch.rand(11, 1, 2, 2, generator=g))


def _task(kind: str) -> LabTask:
    sgd = lambda p: torch.optim.SGD(p, lr=0.1)  # noqa: E731 - an optimizer callable, as the CLI injects
    if kind == "classifier":
        return Classifier(MLP(in_features=4, hidden=[3], num_classes=2), num_classes=2, optimizer=sgd)
    if kind == "regressor":
        return Regressor(Linear(), optimizer=sgd)
    return VAE(MLPVAE(input_shape=[1, 2, 2], hidden=[3], latent_dim=2), optimizer=sgd)


class StepLosses(L.Callback):
    """Each training step's loss and batch size, by epoch."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, list[tuple[float, int]]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        n = len(next(iter(batch.values())))
        self.by_epoch.setdefault(trainer.current_epoch, []).append((float(outputs["loss"]), n))


def test_batch_mean_is_weighted_by_batch_size_and_keeps_nan():
    """0.5 here would be an unweighted mean (torchmetrics' MeanMetric(nan_strategy="disable") gives that)."""
    mean = batch_mean()
    mean.update(torch.tensor(1.0), weight=3)
    mean.update(torch.tensor(0.0), weight=1)
    assert mean.compute().item() == 0.75
    mean.update(torch.tensor(float("nan")), weight=1)
    assert math.isnan(mean.compute().item())


# Fails if an epoch mean stops weighting by batch size (4 + 4 + 3 examples), carries the previous epoch over,
# or is no longer written under its name.
@pytest.mark.parametrize("kind", ["classifier", "regressor", "vae"])
def test_train_loss_is_each_epochs_batch_size_weighted_mean_of_its_step_losses(tmp_path, kind):
    L.seed_everything(0)
    record = StepLosses()
    trainer = L.Trainer(
        max_epochs=2,
        limit_val_batches=0,
        logger=CSVLogger(tmp_path, name="run"),
        callbacks=[record],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_task(kind), DataLoader(_data(kind), batch_size=4))
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as f:
        logged = {int(r["epoch"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}
    assert sorted(logged) == [0, 1]
    for epoch, steps in record.by_epoch.items():
        want = sum(loss * n for loss, n in steps) / sum(n for _, n in steps)
        assert logged[epoch] == pytest.approx(want, rel=1e-5), epoch
    assert logged[0] != logged[1]


# Fails on the old loggers-only step values: train/loss_step never reached trainer.callback_metrics.
@pytest.mark.parametrize("kind", ["classifier", "vae"])
def test_step_and_epoch_losses_reach_callbacks(tmp_path, kind):
    """EarlyStopping and ModelCheckpoint can follow train/loss (the epoch mean); train/loss_step is there too."""
    L.seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="train/loss", mode="min", save_top_k=1)
    # the loss falls every epoch, so mode="max" sees no improvement after the first and stops after patience 1
    stop = EarlyStopping(monitor="train/loss", mode="max", patience=1, check_on_train_epoch_end=True)
    record = StepLosses()
    trainer = L.Trainer(
        max_epochs=10,
        limit_val_batches=0,
        log_every_n_steps=1,  # step values are logged at the steps Lightning writes
        logger=False,
        callbacks=[ckpt, stop, record],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_task(kind), DataLoader(_data(kind), batch_size=4))
    metrics = trainer.callback_metrics
    last_step_loss = record.by_epoch[trainer.current_epoch - 1][-1][0]
    assert float(metrics["train/loss_step"]) == pytest.approx(last_step_loss, rel=1e-6)
    assert trainer.current_epoch < 10 and stop.stopped_epoch > 0
    assert ckpt.best_model_path and ckpt.best_model_score is not None
    assert float(ckpt.best_model_score) <= float(metrics["train/loss"]) + 1e-6
