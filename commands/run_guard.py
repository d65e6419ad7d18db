"""No half-made run directory: a run that fails before its loop starts leaves nothing behind.

``cli.py`` claims ``runs/<lab>/version_N`` before the classes are built (the loggers and the trainer
need it), so bad input found later (data, checkpoint, trainer settings) would leave a folder with a
config and an empty event file. ``discard_unstarted_run`` removes it again, and the ``<lab>`` and
``runs`` folders if this run made them and they are now empty, unless the run had started (its
train / validate / test / predict loop began, or it wrote a checkpoint or metrics): then the folder
is evidence of what happened and stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback


class RunStarted(Callback):
    """Notes that a loop began (the sanity check does not count): from then on the run directory stays."""

    def __init__(self) -> None:
        self.started = False

    def _start(self, trainer: Any, *_: Any) -> None:
        if not trainer.sanity_checking:
            self.started = True

    on_train_start = on_validation_start = on_test_start = on_predict_start = _start


def discard_unstarted_run(cli: Any) -> None:
    """Remove the run directory ``cli`` made in this process if no loop started and no checkpoint was written."""
    run_dir: Path | None = getattr(cli, "_made_run_dir", None)
    if run_dir is None or not run_dir.is_dir():
        return
    guard = getattr(cli, "_run_started", None)
    # Under ddp_spawn the guard that saw the loop start lives in a child process: what the run wrote tells.
    wrote = any(run_dir.rglob("*.ckpt")) or any(run_dir.rglob("metrics.csv"))
    if (guard is not None and guard.started) or wrote:
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in getattr(cli, "_made_parents", []):  # deepest first: <lab>, then runs
        try:
            parent.rmdir()  # only if empty
        except OSError:
            pass
