"""Epoch means of the loss are weighted by batch size, and a NaN loss still shows."""

from __future__ import annotations

import math

import torch
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from lab_modules import Classifier
from lab_modules.nets import MLP


def _task() -> Classifier:
    return Classifier(MLP(in_features=4, hidden=[3], num_classes=2), num_classes=2)


# Fails if the train-loss mean stops weighting by batch size (0.5 here instead of 0.75; torchmetrics 1.9's
# MeanMetric(nan_strategy="disable") did that) or drops a NaN loss.
def test_classifier_train_loss_is_a_batch_size_weighted_mean_that_keeps_nan():
    task = _task()
    task.accumulate_train(torch.tensor(1.0), torch.tensor([0, 0, 0]), torch.tensor([0, 0, 0]))
    task.accumulate_train(torch.tensor(0.0), torch.tensor([1]), torch.tensor([1]))
    assert task.train_means()["train/loss"].item() == 0.75
    task.accumulate_train(torch.tensor(float("nan")), torch.tensor([1]), torch.tensor([1]))
    assert math.isnan(task.train_means()["train/loss"].item())


def test_classifier_train_sums_match_torchmetrics():
    """The running sums give what MeanMetric (weighted) and MulticlassAccuracy (micro) give on the same batches."""
    g = torch.Generator().manual_seed(0)
    task, mean, acc = _task(), MeanMetric(), MulticlassAccuracy(2, average="micro")
    for n in (64, 64, 17):
        loss = torch.rand((), generator=g)
        preds, target = torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)
        task.accumulate_train(loss, preds, target)
        mean.update(loss, weight=n)
        acc.update(preds, target)
    means = task.train_means()
    assert torch.allclose(means["train/loss"], mean.compute())
    assert torch.allclose(means["train/acc"], acc.compute())


# Fails if the regressor's train-loss mean stops weighting by batch size or drops a NaN loss.
def test_regressor_train_loss_is_a_batch_size_weighted_mean_that_keeps_nan():
    from lab_modules import Regressor

    task = Regressor(torch.nn.Linear(3, 1))
    for loss, n in ((1.0, 3), (0.0, 1)):
        task.train_sums.update(torch.tensor([loss * n, float(n)]))
    assert task.train_loss().item() == 0.75
    task.train_sums.update(torch.tensor([float("nan"), 1.0]))
    assert math.isnan(task.train_loss().item())


def test_regressor_training_step_adds_its_loss_to_the_train_sums():
    """The sums the epoch mean is read from are the training steps' own losses and batch sizes."""
    from lab_modules import Regressor

    g = torch.Generator().manual_seed(0)
    task, mean = Regressor(torch.nn.Linear(3, 1)), MeanMetric()
    for n in (8, 8, 3):
        batch = {"input": torch.randn(n, 3, generator=g), "y": torch.randn(n, 1, generator=g)}
        mean.update(task.training_step(batch, 0).detach(), weight=n)
    assert torch.allclose(task.train_loss(), mean.compute())
