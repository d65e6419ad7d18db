"""Epoch means of the loss are weighted by batch size, and a NaN loss still shows."""

from __future__ import annotations

import math

import torch

from lab_modules import Classifier
from lab_modules.nets import MLP


# Fails if the Classifier's train-loss mean goes back to MeanMetric(nan_strategy="disable"), which in
# torchmetrics 1.9 drops the weights (0.5 here instead of 0.75), or to a strategy that drops NaN.
def test_classifier_train_loss_is_a_batch_size_weighted_mean_that_keeps_nan():
    task = Classifier(MLP(in_features=4, hidden=[3], num_classes=2), num_classes=2)
    task.train_loss.update(torch.tensor(1.0), weight=3)
    task.train_loss.update(torch.tensor(0.0), weight=1)
    assert task.train_loss.compute().item() == 0.75
    task.train_loss.update(torch.tensor(float("nan")), weight=1)
    assert math.isnan(task.train_loss.compute().item())
