"""``cli.py fit --ckpt_path <run>/checkpoints/last.ckpt`` continues that run in its own directory.

The run directory of a checkpoint is ``<runs_dir>/<lab>/<version>`` when the checkpoint lies in its
``checkpoints/`` folder beside the run's ``config.yaml``. Resuming writes there again: ``metrics.csv``
gets the new rows appended (Lightning's CSV writer would delete it), ``summary.json`` is updated,
checkpoints continue. ``--run_version new`` starts a new version of the same lab instead.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

NEW = "new"  # --run_version new: resume the weights and training state, but in a new run directory


def checkpoint_run_dir(ckpt_path: object) -> Path | None:
    """The run directory a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` with ``<run>/config.yaml``), or None."""
    if not ckpt_path or str(ckpt_path) in ("last", "best", "hpc", "registry"):
        return None
    p = Path(str(ckpt_path)).expanduser()
    run = p.parent.parent
    return run if p.parent.name == "checkpoints" and (run / "config.yaml").is_file() else None


class AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, keeping an existing ``metrics.csv`` and its columns: rows are appended."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        path = Path(self.metrics_file_path)
        if path.is_file():
            with path.open(newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))

    def _check_log_dir_exists(self) -> None:  # the base deletes metrics.csv of a non-empty directory
        os.makedirs(self.log_dir, exist_ok=True)


def append_csv_logs(loggers: list[Logger]) -> None:
    """Make the CSV loggers of a resumed run append to its ``metrics.csv``."""
    for logger in loggers:
        if isinstance(logger, CSVLogger) and logger._experiment is None:
            logger._experiment = AppendingWriter(logger.log_dir)
