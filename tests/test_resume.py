"""Preemption and exact resume: SIGTERM / SIGINT mid-epoch write last.ckpt, print one line and exit non-zero;
``fit --ckpt_path <run>/checkpoints/last.ckpt`` continues in the same run directory and ends with the same
weights and metrics as a run that was never interrupted."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from tests.helpers import ROOT, TINY, cli

pytestmark = pytest.mark.slow  # end-to-end runs

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")


class SignalAt(Callback):
    """Sends ``signum`` to this process at the end of global step ``step`` (a real signal, as SLURM sends)."""

    def __init__(self, step: int, signum: int = int(signal.SIGTERM)) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


SIGNAL_AT = "tests.test_resume.SignalAt"


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))
