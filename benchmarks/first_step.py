"""Callback for benchmarks/startup.py: records when the first optimizer step happens."""

from __future__ import annotations

import os
import time

from lightning.pytorch import Callback


class FirstStepTime(Callback):
    """Writes ``time.time()`` at the end of the first training batch (after the first
    optimizer step) to ``$DL_LABS_FIRST_STEP_FILE``."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        path = os.environ.get("DL_LABS_FIRST_STEP_FILE")
        if path and trainer.global_step == 1 and not os.path.exists(path):
            with open(path, "w") as f:
                f.write(repr(time.time()))
