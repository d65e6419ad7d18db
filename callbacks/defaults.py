"""The callbacks every CLI run gets besides the lab's own (one builder, read by ``cli.LabCLI``)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, LearningRateMonitor

from callbacks.checkpoint import LabModelCheckpoint, epoch_last_checkpoint
from callbacks.prediction_writer import PredictionWriter
from callbacks.progress_bar import LabProgressBar
from runtime.summary import write_summary


class FitCounts(Callback):
    """Epochs and global step into ``summary.json`` at fit end, from the process that trained: ``ddp_spawn``
    trains in child processes and hands back neither, so the main process's trainer would say 0."""

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        write_summary(trainer, {"epochs": trainer.current_epoch, "global_step": trainer.global_step})


def default_callbacks(
    subcommand: str | None,
    checkpoint: dict[str, Any] | None,
    with_logger: bool,
    with_progress_bar: bool,
) -> list[Callback]:
    """The best checkpoint (``checkpoint``: ModelCheckpoint arguments, monitor and mode resolved; None: no
    checkpoints) and, with its ``save_last``, ``last.ckpt`` after every epoch; the learning-rate monitor when a
    logger is attached; the progress bar unless disabled or given; the prediction writer; fit counts."""
    extra: list[Callback] = []
    if checkpoint is not None:
        save_last = checkpoint.get("save_last")
        extra.append(LabModelCheckpoint(**{**checkpoint, "save_last": False}))
        if save_last:
            extra.append(epoch_last_checkpoint(checkpoint.get("dirpath")))
    if with_logger:
        extra.append(LearningRateMonitor(logging_interval="step"))
    if with_progress_bar:
        extra.append(LabProgressBar())
    if subcommand == "predict":
        extra.append(PredictionWriter())
    if subcommand == "fit":
        extra.append(FitCounts())
    return extra
