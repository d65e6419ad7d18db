"""gd_variants: full-batch gradient descent by equal chunks + gradient accumulation is exact,
and the lab's point (mini-batch SGD learns far more per epoch than full batch) holds."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from datamodules import MNISTDataModule
from datamodules.samplers import EqualChunks
from lab_modules import Classifier
from lab_modules.nets import MLP
from labcore.errors import LabError


def _model(lr: float = 1.0, momentum: float = 0.0) -> Classifier:
    torch.manual_seed(0)
    net = MLP(in_features=784, hidden=[16], batchnorm=False, dropout=0.0, init="default")
    return Classifier(net, num_classes=10, optimizer=lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum))


def _one_step(batch_size, accumulate: int, n: int = 48) -> tuple[dict, dict, MNISTDataModule]:
    """Parameters before and after one optimizer step (SGD lr 1: the change is -gradient)."""
    dm = MNISTDataModule(source="embedded", batch_size=batch_size, max_train_samples=n, eval_batch_size=64)
    model = _model()
    before = {k: v.detach().clone() for k, v in model.net.named_parameters()}
    trainer = L.Trainer(
        max_steps=1,
        accumulate_grad_batches=accumulate,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    after = {k: v.detach().clone() for k, v in model.net.named_parameters()}
    return before, after, dm


def _reference_gradient(dm: MNISTDataModule) -> dict:
    model = _model()
    ds = dm.datasets["train"]
    batch = ds.__getitems__(list(range(len(ds))))  # the whole set in one forward pass
    loss = nn.functional.cross_entropy(model.net(image=batch["image"]), batch["label"])
    loss.backward()
    return {k: p.grad.detach().clone() for k, p in model.net.named_parameters()}


def test_full_batch_by_equal_chunks_is_exact():
    before, after, dm = _one_step("full", accumulate=4)
    assert len(dm.train_dataloader().batch_sampler) == 4
    ref = _reference_gradient(dm)
    for k, g in ref.items():
        torch.testing.assert_close(before[k] - after[k], g, rtol=1e-5, atol=1e-6)


def test_unequal_micro_batches_would_not_be_exact():
    """Why the equal chunks matter: Lightning divides each micro-batch loss by the count, so
    48 examples as 20 + 20 + 8 do not give the full-batch gradient."""
    before, after, dm = _one_step(20, accumulate=3)
    ref = _reference_gradient(dm)
    diff = max(float((before[k] - after[k] - g).abs().max()) for k, g in ref.items())
    assert diff > 1e-4


def test_full_batch_needs_equal_chunks():
    assert [len(c) for c in EqualChunks(12, 3)] == [4, 4, 4]
    assert sorted(i for c in EqualChunks(12, 3) for i in c) == list(range(12))
    with pytest.raises(LabError, match="accumulate_grad_batches"):
        EqualChunks(48, 5)


def test_minibatch_learns_more_per_epoch_than_full_batch():
    """The lab's point: at equal epochs, mini-batch SGD is far ahead of full-batch GD."""
    accs = {}
    for name, bs, acc in (("full", "full", 6), ("mini", 64, 1)):
        L.seed_everything(0)
        dm = MNISTDataModule(source="embedded", batch_size=bs, eval_batch_size=500)
        net = MLP(in_features=784, hidden=[128, 64], batchnorm=False, dropout=0.0, init="default")
        model = Classifier(net, num_classes=10, optimizer=lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9))
        trainer = L.Trainer(
            max_epochs=2,
            accumulate_grad_batches=acc,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(model, datamodule=dm)
        accs[name] = float(trainer.callback_metrics["val/acc"])
    assert accs["mini"] > 0.8, accs
    assert accs["full"] < 0.5, accs
