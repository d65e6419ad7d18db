"""The tabular labs end to end through the CLI: learning per task kind, the reports' flaws, DDP."""

from __future__ import annotations

import pytest
import torch
import yaml

from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary

pytestmark = pytest.mark.slow  # end-to-end runs and learning tests

LABS = ROOT / "configs" / "labs" / "tabular"
QUICK = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def test_classification_learns_titanic(tmp_path):
    # majority class ("died") is 62% of the rows; a few epochs of the baseline MLP beat it clearly
    run = cli(
        "fit",
        "--config",
        str(LABS / "regularization.yaml"),
        *QUICK,
        "--trainer.max_epochs",
        "8",
        "--data.init_args.source",
        "embedded",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path,
        lab="titanic",
    )
    assert summary(run)["test"]["test/acc"] > 0.72


def test_regression_learns_house_prices(tmp_path):
    run = cli(
        "fit",
        "--config",
        str(LABS / "house_prices_mlp.yaml"),
        *QUICK,
        "--trainer.max_epochs",
        "6",
        "--data.init_args.source",
        "embedded",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path,
        lab="houses",
    )
    test = summary(run)["test"]
    assert test["test/r2"] > 0.5
    assert test["test/rmse"] > 1000  # real units (US dollars), not the scaled target


def test_mae_run_is_fresh_not_the_mse_model_continued(tmp_path):
    # the report trained its MAE model on from the MSE-trained one; ours starts from its own initialisation
    mse = yaml.safe_load((LABS / "house_prices_mlp.yaml").read_text())
    mae = yaml.safe_load((LABS / "house_prices_mlp_mae.yaml").read_text())
    assert mae["model"]["init_args"].pop("loss") == "mae" and mse["model"]["init_args"].pop("loss") == "mse"
    assert mae["model"] == mse["model"] and mae["data"] == mse["data"]  # only the loss differs
    assert "ckpt_path" not in mae
    first = cli("fit", "--config", str(LABS / "house_prices_mlp.yaml"), *TINY, runs_dir=tmp_path, lab="mse")
    second = cli("fit", "--config", str(LABS / "house_prices_mlp_mae.yaml"), *TINY, runs_dir=tmp_path, lab="mae")
    a = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 2  # the MAE run counts its own steps from 0
    assert b["hyper_parameters"]["loss"] == "mae"
    spec = yaml.safe_load((ROOT / "configs/compare/house_prices.yaml").read_text())
    assert not any("ckpt" in arg or "weights_from" in arg for args in spec["variants"].values() for arg in args)


def test_threshold_from_validation_is_used_by_test_from_checkpoint(tmp_path):
    run = cli(
        "fit", "--config", str(LABS / "imbalanced.yaml"), *TINY, "--trainer.max_epochs", "2", runs_dir=tmp_path, lab="f"
    )
    last = run / "checkpoints" / "last.ckpt"
    chosen = float(torch.load(last, weights_only=True)["state_dict"]["decision_threshold"])
    tested = cli(
        "test", "--config", str(LABS / "imbalanced.yaml"), *TINY, "--ckpt_path", str(last), runs_dir=tmp_path, lab="t"
    )
    assert summary(tested)["test"]["test/threshold"] == pytest.approx(chosen)


def test_two_process_ddp_imbalanced_lab(tmp_path):
    # weighted sampler (wrapped into a distributed sampler) + epoch-level class metrics gathered across ranks
    run = cli(
        "fit",
        "--config",
        str(LABS / "imbalanced.yaml"),
        *TINY,
        *DDP_CPU_2,
        "--data.init_args.imbalance",
        "weighted_sampler",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path,
        lab="ddp",
    )
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2  # limit_train_batches counts per rank
    test = summary(run)["test"]
    assert 0.0 <= test["test/threshold"] <= 1.0
    assert 0.0 <= test["test/recall_fraud"] <= 1.0
