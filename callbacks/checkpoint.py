"""The CLI's checkpoints: the best by the task's metric, ``last.ckpt`` after every epoch, and at SIGTERM / SIGINT."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from runtime import checkpoint_io, preemption

LAST = "last"


class LeanModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` with less work per training batch: its ``state_key`` is formatted once per fit
    (Lightning formats it at every callback hook it calls, several per batch, and the options it is made of do
    not change during a fit), and its batch-end checks run only with a step or time trigger (without one they
    end in doing nothing). Used as is, its key is the one a plain ``ModelCheckpoint`` with the same options has
    (checkpoints written by either restore into the other); a subclass keeps its own name in the key."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_key: str | None = None
        given = inspect.signature(ModelCheckpoint.__init__).bind(self, *args, **kwargs).arguments
        self._batch_saves = bool(given.get("every_n_train_steps")) or given.get("train_time_interval") is not None

    @property
    def state_key(self) -> str:
        if self._state_key is not None:
            return self._state_key
        key = super().state_key
        if type(self) is LeanModelCheckpoint:
            key = "ModelCheckpoint" + key[len(LeanModelCheckpoint.__qualname__) :]
        return key

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._state_key = None
        self._state_key = self.state_key

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().teardown(trainer, pl_module, stage)
        self._state_key = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._batch_saves:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


def epoch_last_checkpoint(dirpath: str | None = None) -> ModelCheckpoint:
    """``last.ckpt`` rewritten after EVERY epoch, through public ``ModelCheckpoint`` options: no monitor and
    ``save_top_k=1`` keep one file named ``last`` (the previous is the same path, so nothing is deleted).

    The best checkpoint's own ``save_last`` rewrites ``last.ckpt`` only in a step where a top-k checkpoint was
    saved, so once the monitored metric stops improving it would freeze at the best epoch and a resume from it
    would silently repeat epochs."""
    return LeanModelCheckpoint(
        dirpath=dirpath,
        filename=LAST,
        monitor=None,
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )


class LabModelCheckpoint(LeanModelCheckpoint):
    """``ModelCheckpoint`` (the best by the task's metric) that also stops the run at SIGTERM / SIGINT after
    writing ``last.ckpt`` at the next batch end (``runtime/preemption.py``), and makes every rank learn of a
    failed write on rank 0 (``runtime/checkpoint_io.py``). Files are written by the trainer's
    ``AtomicCheckpointIO`` plugin. Lightning orders ModelCheckpoints after the other callbacks, so at a signal
    every other callback has finished the step before ``last.ckpt`` is written.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._previous_handlers: dict[int, Any] = {}
        self._dumps = 0  # checkpoints written since the last check, counted on every rank
        self._checked = 0

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._dumps += 1  # any save of this trainer (ours, another ModelCheckpoint's, trainer.save_checkpoint)
        return super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def _check(self, trainer: Trainer) -> None:
        if self._dumps != self._checked:
            self._checked = self._dumps
            checkpoint_io.check_writes(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._check(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self._check(trainer)

    # --- preemption ------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        # After Lightning registered its own SIGTERM handler (which would end the run with code 0 and no checkpoint).
        preemption.forget_lightning_sigterm(trainer)
        self._previous_handlers = preemption.install()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._restore_handlers()
        self._check(trainer)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        if self._previous_handlers:
            preemption.uninstall(self._previous_handlers)
            self._previous_handlers = {}

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._check(trainer)
        signum = preemption.agreed_signal(trainer)
        if signum is None:
            return
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch or preemption.in_accumulation(trainer, batch_idx):
            # The epoch's end runs as usual (validation, last.ckpt); mid-accumulation gradients are not in a
            # checkpoint: stop after the next optimizer step instead.
            return
        path = Path(self.dirpath or Path(trainer.default_root_dir) / "checkpoints") / f"{LAST}{self.FILE_EXTENSION}"
        checkpoint_io.save(trainer, path)
        self._checked = self._dumps
        preemption.flush_step_logs(trainer)
        if trainer.is_global_zero:
            run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
            print(preemption.stop_line(signum, trainer, path, run_dir), file=sys.stderr, flush=True)
        raise preemption.Preempted(signum)
