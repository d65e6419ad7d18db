"""``metrics.csv`` of a resumed run (``fit --ckpt_path <run>/checkpoints/last.ckpt``, see ``runtime.rundir``).

Resuming writes into the same run directory: the CSV logger appends to ``metrics.csv`` (Lightning's writer would
delete it) after dropping the rows logged past the checkpoint. A run killed hard (SIGKILL at the end of a grace
period, OOM, node loss) wrote rows after its last checkpoint; the resumed run logs those steps again.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_info


class AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, keeping an existing ``metrics.csv`` and its columns: rows are appended.
    With ``first_step``, rows logged at that step or later (by a run killed after its checkpoint) are dropped."""

    def __init__(self, log_dir: str, first_step: int | None = None) -> None:
        super().__init__(log_dir)
        self.dropped = 0
        path = Path(self.metrics_file_path)
        if path.is_file():
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.metrics_keys = sorted(reader.fieldnames or [])
                rows = list(reader)
            if first_step is not None:
                kept = [r for r in rows if not _at_or_after(r, first_step)]
                self.dropped = len(rows) - len(kept)
                if self.dropped:
                    _rewrite(path, list(reader.fieldnames or []), kept)

    def _check_log_dir_exists(self) -> None:  # the base deletes metrics.csv of a non-empty directory
        os.makedirs(self.log_dir, exist_ok=True)


def _at_or_after(row: dict[str, str], first_step: int) -> bool:
    try:
        return int(float(row.get("step") or "nan")) >= first_step
    except ValueError:  # no step column value: keep the row
        return False


def _rewrite(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def first_logged_step(checkpoint: dict[str, Any]) -> int | None:
    """The logger step the run resumed from ``checkpoint`` logs first: its global step (a training step's rows are
    logged at the count of optimizer steps before it, so the rows of the checkpoint's own last step are kept, and
    also those a signal's checkpoint flushed after it)."""
    step = checkpoint.get("global_step")
    return None if step is None else int(step)


def append_csv_logs(loggers: list[Logger], first_step: int | None = None) -> None:
    """Make the CSV loggers of a resumed run append to its ``metrics.csv`` (rows from ``first_step`` on dropped)."""
    for logger in loggers:
        if isinstance(logger, CSVLogger) and logger._experiment is None:
            writer = AppendingWriter(logger.log_dir, first_step)
            logger._experiment = writer
            if writer.dropped:
                rank_zero_info(
                    f"[dl-labs] {writer.metrics_file_path}: dropped {writer.dropped} rows logged at step {first_step} "
                    "or later (the run went on after its last checkpoint); TensorBoard keeps them in the earlier "
                    "event file"
                )
