"""``summary.json`` in the run directory: what the compare command and the benchmarks read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightning.pytorch import Trainer


def write_summary(trainer: Trainer, summary: dict[str, Any]) -> str | None:
    """Merge ``summary`` into ``<log_dir>/summary.json`` (rank 0); returns the log dir (None: nothing written,
    e.g. ``fast_dev_run``, which has no log dir)."""
    log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask
    if not trainer.is_global_zero or not log_dir:
        return log_dir
    path = Path(log_dir) / "summary.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **summary}, indent=2))
    return log_dir
