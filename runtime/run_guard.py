"""No half-made run directory: a run that fails before its loop starts leaves nothing behind.

The CLI claims ``runs/<lab>/version_N`` before the classes are built (the loggers and the trainer need it), so
bad input found later (data, checkpoint, trainer settings) would leave a folder with a config and an empty event
file. ``runtime.rundir.discard_unstarted`` removes it again unless the run had started (``RunStarted`` saw its
train / validate / test / predict loop begin, or it wrote a checkpoint or metrics): then the folder is evidence
of what happened and stays.
"""

from __future__ import annotations

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
