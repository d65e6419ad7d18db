"""Shared bits of the fidelity-ledger guards (tests/test_ledger_*.py): a lab built by the real CLI
without running it, and tiny loaders for task modules."""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import DataLoader

from tests.helpers import ROOT

LABS = ROOT / "configs" / "labs"
QUIET = [
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_model_summary",
    "false",
    "--trainer.num_sanity_val_steps",
    "0",
]


def lab(config: Path | str, *args: str, runs_dir: Path, configs: list[Path | str] | None = None):
    """``LabCLI(run=False)``: the model, datamodule and trainer exactly as ``cli.py fit`` builds them."""
    from cli import VERSION_ENV, LabCLI

    os.environ.pop(VERSION_ENV, None)
    argv = [a for c in (configs or [config]) for a in ("--config", str(c))]
    built = LabCLI(args=[*argv, *args, "--runs_dir", str(runs_dir)], run=False)
    os.environ.pop(VERSION_ENV, None)
    return built


def batches(*batches: dict) -> DataLoader:
    """A loader that yields the given batch dicts as they are (uneven sizes allowed)."""
    return DataLoader(list(batches), batch_size=None)
