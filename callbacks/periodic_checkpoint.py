"""A checkpoint every N epochs, beside the CLI's best/last ModelCheckpoint.

Not a ``ModelCheckpoint``: Lightning's ``trainer.checkpoint_callback`` is the *first*
ModelCheckpoint, and the CLI's best-checkpoint bookkeeping (``--test_after_fit``, summary.json)
must keep reading the forced one.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer

from runtime import checkpoint_io


class PeriodicCheckpoint(Callback):
    """Saves ``<run dir>/checkpoints/every{N}-epoch{E:03d}.ckpt`` after every ``every_n_epochs``-th epoch,
    through the trainer's checkpoint plugin (atomic with the CLI's ``AtomicCheckpointIO``)."""

    def __init__(self, every_n_epochs: int = 2) -> None:
        self.every_n_epochs = every_n_epochs

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if trainer.sanity_checking or epoch % self.every_n_epochs:
            return
        ckpt = trainer.checkpoint_callback
        folder = (
            Path(ckpt.dirpath)
            if ckpt is not None and ckpt.dirpath
            else Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints"
        )
        checkpoint_io.save(trainer, folder / f"every{self.every_n_epochs}-epoch{epoch:03d}.ckpt")
