"""Classifier additions for the tabular labs: decision threshold chosen on val and applied on test,
per-class metrics and AUCs, class weights, the L1 penalty."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import multiclass_confusion_matrix, multiclass_f1_score

from datamodules.tabular import TableDataset
from datamodules.tensor_dataset import dict_collate
from lab_modules.binary_metrics import choose_threshold, parse_threshold, threshold_metrics
from lab_modules.classifier import Classifier
from lab_modules.nets.tabular_mlp import TabularMLP
from labcore.errors import LabError


def _loader(x: torch.Tensor, y: torch.Tensor, batch_size: int = 32) -> DataLoader:
    return DataLoader(TableDataset(x, y, "label"), batch_size=batch_size, collate_fn=dict_collate)


def _data(n: int, seed: int, positives: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < positives).long()
    x = torch.randn(n, 4, generator=g) + y[:, None] * 1.2
    return x, y


def _trainer(**kw) -> L.Trainer:
    args = dict(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
    )
    return L.Trainer(**{**args, **kw})


def test_threshold_rules():
    assert parse_threshold(None) is None
    assert parse_threshold("best_f1")[0] == "best_f1"
    assert parse_threshold("recall:0.85") == ("recall", 0.85)
    assert parse_threshold(0.3) == ("fixed", 0.3)
    with pytest.raises(LabError, match="threshold"):
        parse_threshold("recall:2")
    scores = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    target = torch.tensor([0, 0, 1, 0, 0, 1, 1, 1])
    assert choose_threshold(("best_f1", 0.0), scores, target) == pytest.approx(0.7)  # P 1, R 0.75
    t = choose_threshold(("recall", 1.0), scores, target)
    assert t == pytest.approx(0.3)  # the highest threshold that still finds every positive
    assert choose_threshold(("best_f1", 0.0), scores, torch.zeros(8, dtype=torch.long)) is None
    m = threshold_metrics(scores, target, 0.7, ["normal", "fraud"])
    assert float(m["precision_fraud"]) == 1.0 and float(m["recall_fraud"]) == 0.75
    assert 0 < float(m["pr_auc"]) <= 1 and 0 < float(m["roc_auc"]) <= 1


def test_threshold_chosen_on_val_is_the_one_applied_on_test():
    torch.manual_seed(0)
    model = Classifier(
        TabularMLP(4, 2, hidden=[8]), num_classes=2, class_names=["normal", "fraud"], threshold="best_f1"
    )
    val, test = _data(200, 1), _data(200, 2, positives=0.5)  # another class mix: its best threshold differs
    trainer = _trainer()
    trainer.fit(model, _loader(*_data(400, 0)), _loader(*val))
    chosen = float(model.decision_threshold)
    with torch.no_grad():
        val_scores = model.probabilities(model(x=val[0]))[:, 1]
        test_scores = model.probabilities(model(x=test[0]))[:, 1]
    assert chosen == pytest.approx(choose_threshold(("best_f1", 0.0), val_scores, val[1]))
    assert choose_threshold(("best_f1", 0.0), test_scores, test[1]) != pytest.approx(chosen)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert float(state["decision_threshold"]) == chosen  # in every checkpoint
    (result,) = trainer.test(model, _loader(*test), verbose=False)
    assert float(model.decision_threshold) == chosen  # test never re-chooses
    assert result["test/threshold"] == pytest.approx(chosen)
    expected = threshold_metrics(test_scores, test[1], chosen, ["normal", "fraud"])
    assert result["test/recall_fraud"] == pytest.approx(float(expected["recall_fraud"]), abs=1e-6)
    assert result["test/pr_auc"] == pytest.approx(float(expected["pr_auc"]), abs=1e-5)
    pred = model.predict_step({"x": test[0]}, 0)["pred"]
    assert torch.equal(pred, (test_scores >= chosen).long())


# Fails on the old code: val/acc, val/f1 and the validation confusion matrix used the previous epoch's threshold
# (the starting 0.5 at epoch 0) while val/threshold logged the new one.
def test_validation_metrics_use_the_threshold_they_log():
    class Seen(L.Callback):
        """What a figure callback sees at the validation epoch's end, and what the checkpoint monitor reads."""

        def on_validation_epoch_end(self, trainer, pl_module):  # callbacks run before the module's hook
            self.confmat = pl_module.confusion_matrix("val").compute().clone()

        def on_validation_end(self, trainer, pl_module):
            self.metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}

    torch.manual_seed(0)
    model = Classifier(
        TabularMLP(4, 2, hidden=[8]), num_classes=2, class_names=["normal", "fraud"], threshold="best_f1"
    )
    val = _data(300, 1)
    seen = Seen()
    _trainer(max_epochs=1, callbacks=[seen]).fit(model, _loader(*_data(400, 0)), _loader(*val, batch_size=64))
    threshold = seen.metrics["val/threshold"]
    assert threshold == pytest.approx(float(model.decision_threshold)) and threshold != pytest.approx(0.5)
    with torch.no_grad():
        scores = model.probabilities(model(x=val[0]))[:, 1]
    preds = (scores >= threshold).long()
    assert not torch.equal(preds, (scores >= 0.5).long())  # the threshold changes decisions: the test can fail
    assert seen.metrics["val/acc"] == pytest.approx(float((preds == val[1]).float().mean()), abs=1e-6)
    f1 = multiclass_f1_score(preds, val[1], num_classes=2, average="macro")
    assert seen.metrics["val/f1"] == pytest.approx(float(f1), abs=1e-6)
    assert torch.equal(seen.confmat, multiclass_confusion_matrix(preds, val[1], num_classes=2))
    assert seen.confmat.sum() == len(val[1])


def test_class_metrics_need_two_classes():
    with pytest.raises(LabError, match="2 classes"):
        Classifier(TabularMLP(4, 3), num_classes=3, threshold="best_f1")


def test_class_weights_weight_the_loss():
    model = Classifier(TabularMLP(4, 2), num_classes=2, class_weights=[0.5, 5.0])
    assert model.loss_fn.weight.tolist() == [0.5, 5.0]
    binary = Classifier(TabularMLP(4, 1), num_classes=2, binary=True, class_weights=[0.5, 5.0])
    assert binary.loss_fn.pos_weight.tolist() == [10.0]
    with pytest.raises(LabError, match="class_weights"):
        Classifier(TabularMLP(4, 2), num_classes=2, class_weights=[1.0])


def _weights_after_training(l1: float) -> float:
    torch.manual_seed(0)
    adam = functools.partial(torch.optim.Adam, lr=0.02)
    model = Classifier(TabularMLP(4, 2, hidden=[16]), num_classes=2, l1=l1, optimizer=adam)
    _trainer(max_epochs=3).fit(model, _loader(*_data(256, 0)), _loader(*_data(64, 1)))
    return sum(float(p.abs().sum()) for p in model.net.parameters() if p.dim() > 1)


def test_l1_penalty_shrinks_the_weights():
    plain, penalised = _weights_after_training(0.0), _weights_after_training(0.05)
    assert penalised < 0.7 * plain, (penalised, plain)
