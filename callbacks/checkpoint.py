"""The CLI's best/last checkpoint: ``last.ckpt`` after every epoch and at SIGTERM / SIGINT, every write atomic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from callbacks import preemption
from callbacks.atomic_save import save_atomically


class LabModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is the state after EVERY epoch, and after the step at which
    a SIGTERM / SIGINT arrived (see ``callbacks/preemption.py``); files are written under a temporary
    name in the same folder and renamed when complete (``callbacks/atomic_save.py``).

    Lightning 2.6 rewrites ``last.ckpt`` only in a step where a top-k checkpoint was saved, so once
    the monitored metric stops improving ``last.ckpt`` freezes at the best epoch and a resume from it
    silently repeats epochs. The best checkpoint (top-k by the task's metric) is unchanged.
    Lightning orders ModelCheckpoints after the other callbacks, so at a signal every other callback
    has finished the step before ``last.ckpt`` is written.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._previous_handlers: dict[int, Any] = {}

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def _refresh_last(self, trainer: Trainer) -> None:
        if (
            self.save_last
            and self._last_global_step_saved != trainer.global_step
            and not self._should_skip_saving_checkpoint(trainer)
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        save_atomically(trainer, filepath, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(self)

    # --- preemption ------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        # After Lightning registered its own SIGTERM handler (which would end the run with code 0 and no checkpoint).
        if trainer.received_sigterm:
            preemption.note(preemption.signal.SIGTERM)
            trainer._signal_connector.received_sigterm = False
        self._previous_handlers = preemption.install()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._restore_handlers()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        if self._previous_handlers:
            preemption.uninstall(self._previous_handlers)
            self._previous_handlers = {}

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any, **kwargs: Any) -> None:
        super().on_train_batch_end(trainer, pl_module, *args, **kwargs)
        signum = preemption.agreed_signal(trainer)
        if signum is None:
            return
        epoch_loop = trainer.fit_loop.epoch_loop
        if epoch_loop.batch_progress.is_last_batch or epoch_loop._should_accumulate():
            # The epoch's end runs as usual (validation, last.ckpt); mid-accumulation gradients are not in a
            # checkpoint: stop after the next optimizer step instead.
            return
        path = Path(self.format_checkpoint_name(self._monitor_candidates(trainer), self.CHECKPOINT_NAME_LAST))
        self.last_model_path = str(path)  # part of the saved state: the resumed run keeps rewriting this file
        self._save_checkpoint(trainer, str(path))
        # This step's logged values: Lightning writes them after the callbacks' batch-end hooks, i.e. never here.
        trainer._logger_connector.on_batch_end()
        trainer._logger_connector.update_train_step_metrics()
        for logger in trainer.loggers:
            logger.save()
        if trainer.is_global_zero:
            run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
            print(preemption.stop_line(signum, trainer, path, run_dir), file=sys.stderr, flush=True)
        raise preemption.Preempted(signum)
