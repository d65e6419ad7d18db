"""Multi-process training on CPU (gloo) and the W&B logger, offline."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary

pytestmark = pytest.mark.slow  # end-to-end runs: outside the fast inner loop

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")


def test_two_process_ddp_on_cpu(tmp_path):
    # ddp_spawn pickles the module, datamodule and callbacks: this also checks they stay picklable.
    run = cli(
        "fit",
        "--config",
        MNIST,
        *TINY,
        *DDP_CPU_2,
        "--trainer.limit_train_batches",
        "4",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path,
        lab="ddp",
    )
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 4  # limit_train_batches counts per rank
    assert 0.0 <= summary(run)["test"]["test/acc"] <= 1.0


def test_wandb_offline_gets_the_full_config(tmp_path, monkeypatch):
    from wandb.sdk.wandb_config import Config

    sent: dict = {}
    original = Config.update

    def spy(self, d, allow_val_change=None):
        sent.update(dict(d))
        return original(self, d, allow_val_change=allow_val_change)

    monkeypatch.setattr(Config, "update", spy)
    run = cli(
        "fit",
        "--config",
        MNIST,
        "--config",
        str(ROOT / "configs/logger/wandb.yaml"),
        *TINY,
        runs_dir=tmp_path,
        lab="wb",
    )
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb")), "no offline W&B run was written"
    assert sent["model.init_args.optimizer.init_args.lr"] == 1e-4
    assert sent["data.class_path"] == "datamodules.MNISTDataModule"
    assert sent["trainer.max_epochs"] == 1
    assert (run / "metrics.csv").exists() and (run / "config.yaml").exists()  # CSV stays the first logger


def test_ddp_subprocess_launcher_shares_one_run_dir(tmp_path):
    # Plain `ddp` re-runs cli.py for rank 1: both ranks must agree on runs/<lab>/version_N.
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "fit",
            "--config",
            MNIST,
            *TINY,
            "--trainer.strategy",
            "ddp",
            "--trainer.devices",
            "2",
            "--trainer.accelerator",
            "cpu",
            "--runs_dir",
            str(tmp_path),
            "--lab",
            "ddp2",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "ddp2").iterdir()) == ["version_0"]
    assert (tmp_path / "ddp2" / "version_0" / "checkpoints" / "last.ckpt").exists()
