"""Imbalance strategies touch the training split only; the realistic fraud ratio is made before the split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from datamodules.imbalance import IMBALANCE, balanced_class_weights, subsample_minority
from datamodules.tabular import TabularDataModule
from labcore.errors import LabError

ROOT = Path(__file__).resolve().parent.parent


def _fraud(imbalance: str = "none", **kw) -> TabularDataModule:
    dm = TabularDataModule(
        dataset="creditcard_fraud",
        target="Class",
        class_names=["normal", "fraud"],
        minority_fraction=0.05,
        imbalance=imbalance,
        source="embedded",
        **kw,
    )
    dm.setup("fit")
    dm.setup("test")
    return dm


@pytest.fixture(scope="module")
def plain() -> TabularDataModule:
    return _fraud()


@pytest.mark.parametrize("strategy", [s for s in IMBALANCE if s != "none"])
def test_strategies_touch_the_training_split_only(plain, strategy):
    dm = _fraud(strategy)
    for split in ("val", "test"):  # the very same rows, features and labels as without a strategy
        assert torch.equal(dm.datasets[split].x, plain.datasets[split].x)
        assert torch.equal(dm.datasets[split].target, plain.datasets[split].target)
    assert dm.data_state == plain.data_state  # statistics fitted before any resampling
    counts = dm.datasets["train"].target.bincount().tolist()
    before = plain.datasets["train"].target.bincount().tolist()
    if strategy in ("undersample", "oversample", "smote"):
        assert counts[0] == counts[1] and counts != before
    else:
        assert counts == before
    if strategy == "smote":  # synthetic minority rows, not copies
        fraud = dm.datasets["train"].x[dm.datasets["train"].target == 1]
        assert len(torch.unique(fraud, dim=0)) == len(fraud)


def test_resampling_is_seeded():
    a, b = _fraud("smote"), _fraud("smote")
    assert torch.equal(a.datasets["train"].x, b.datasets["train"].x)
    c = _fraud("smote", sampling_seed=1)
    assert not torch.equal(a.datasets["train"].x, c.datasets["train"].x)


def test_weighted_sampler_balances_training_batches(plain):
    dm = _fraud("weighted_sampler")
    drawn = torch.cat([b["label"] for b in dm.train_dataloader()])
    assert len(drawn) == len(dm.datasets["train"])
    assert 0.35 < drawn.float().mean() < 0.65  # about half frauds, from ~5% in the rows
    assert plain.datasets["train"].target.float().mean() < 0.1
    val = torch.cat([b["label"] for b in dm.val_dataloader()])
    assert torch.equal(val, plain.datasets["val"].target)  # evaluation order and rows unchanged


def test_class_weights_reach_the_model_info(plain):
    assert plain.model_info()["class_weights"] is None
    dm = _fraud("class_weights")
    counts = dm.data_state["class_counts"]
    assert dm.model_info()["class_weights"] == pytest.approx(balanced_class_weights(counts))
    assert dm.model_info()["class_weights"][1] > 5 * dm.model_info()["class_weights"][0]


def test_minority_subsampling_happens_before_the_split(plain):
    labels = torch.cat([plain.datasets[s].target for s in ("train", "val", "test")])
    assert labels.float().mean() == pytest.approx(0.05, abs=0.005)
    for split in ("val", "test"):  # stratified after subsampling: every part holds the realistic ratio
        assert 0.02 < plain.datasets[split].target.float().mean() < 0.08
    y = np.array(["0"] * 980 + ["1"] * 200)
    keep = subsample_minority(y, 0.02, seed=3)
    assert (y[keep] == "1").sum() == 20 and (y[keep] == "0").sum() == 980
    assert np.array_equal(keep, subsample_minority(y, 0.02, seed=3))
    with pytest.raises(LabError, match="minority_fraction"):
        subsample_minority(y, 0.001, seed=3)


def test_the_imbalanced_lab_compares_every_strategy():
    # the report was about imbalance but applied no SMOTE, under-sampling or class weights
    spec = yaml.safe_load((ROOT / "configs/compare/imbalanced.yaml").read_text())
    chosen = {a.split("=", 1)[1] for args in spec["variants"].values() for a in args if "imbalance=" in a}
    assert chosen == set(IMBALANCE)
    lab = yaml.safe_load((ROOT / "configs/labs/tabular/imbalanced.yaml").read_text())
    assert 0.01 <= lab["data"]["init_args"]["minority_fraction"] <= 0.02


def test_imbalance_needs_classification():
    with pytest.raises(LabError, match="imbalance"):
        TabularDataModule(dataset="california_housing", target="v", task="regression", imbalance="smote")
