"""W&B run summary and metric definitions that match the checkpoint: best monitored value and its epoch,
the test metrics of the checkpoint tested, parameter counts, fit time; plus the resolved data source as a tag."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger

from lab_modules.nets.params import count_parameters
from lab_modules.task import LabTask
from runtime.wandb_run import LOG_MODEL_KEY


def wandb_loggers(trainer: Trainer) -> list[WandbLogger]:
    """The trainer's W&B loggers (their ``experiment`` is a real run on global rank zero only)."""
    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def monitored(trainer: Trainer, pl_module: LightningModule) -> tuple[str | None, str]:
    """The metric and mode the best checkpoint follows (the task's own where no checkpoint ranks)."""
    ckpt = trainer.checkpoint_callback
    monitor = getattr(ckpt, "monitor", None)
    if monitor:
        return monitor, getattr(ckpt, "mode", "min")
    if isinstance(pl_module, LabTask):
        return pl_module.monitor, pl_module.monitor_mode
    return None, "min"


def best_checkpoint_epoch(path: str) -> tuple[int | None, int | None]:
    """``(epoch, global_step)`` saved in a Lightning checkpoint, read without loading its tensors into memory."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError, ValueError):
        return None, None
    return ckpt.get("epoch"), ckpt.get("global_step")


class WandbRunSummary(Callback):
    """For every attached ``WandbLogger`` (rank zero), what a W&B user otherwise sets up by hand:

    - ``define_metric``: ``val/*`` and ``<name>_epoch`` metrics are plotted against ``epoch``; the monitored
      metric's summary is its best value by the checkpoint's mode (``max`` / ``min``) and its last;
    - at fit end the summary holds what ``summary.json`` has: ``monitor``, ``mode``, ``best_score`` (the best
      checkpoint's), ``best_epoch`` / ``best_step`` (read from that checkpoint), ``best_checkpoint``,
      ``params``, ``trainable_params``, ``fit_seconds``, ``epochs``, ``global_step``;
    - after test, ``test_checkpoint``: the checkpoint whose weights the summary's ``test/*`` metrics
      belong to (``--test_after_fit``: the best one);
    - the tag ``data:<source>``: the source the datamodule resolved (``resolved_source``).
    """

    def __init__(self) -> None:
        self._fit_started: float | None = None
        self._defined: set[str] = set()

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        loggers = wandb_loggers(trainer)
        if not loggers or not trainer.is_global_zero:
            return
        monitor, mode = monitored(trainer, pl_module)
        source = getattr(trainer.datamodule, "resolved_source", None)
        for logger in loggers:
            run = logger.experiment
            run.define_metric("epoch")
            run.define_metric("val/*", step_metric="epoch")  # W&B globs are prefixes only: see _define_epoch_metrics
            if monitor:
                run.define_metric(monitor, step_metric="epoch", summary=f"{mode},last")
            if source:
                tag = f"data:{source}"
                if tag not in run.tags:
                    run.tags = (*run.tags, tag)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._fit_started = time.perf_counter()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._define_epoch_metrics(trainer)

    def _define_epoch_metrics(self, trainer: Trainer) -> None:
        """``<name>_epoch`` (Lightning's epoch means of values logged per step too) against ``epoch``, once seen."""
        loggers = wandb_loggers(trainer)
        if not loggers or not trainer.is_global_zero:
            return
        for name in sorted(set(trainer.callback_metrics) - self._defined):
            if name.endswith("_epoch"):
                for logger in loggers:
                    logger.experiment.define_metric(name, step_metric="epoch")
            self._defined.add(name)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._define_epoch_metrics(trainer)
        loggers = wandb_loggers(trainer)
        if not loggers or not trainer.is_global_zero:
            return
        monitor, mode = monitored(trainer, pl_module)
        summary: dict[str, Any] = {
            "params": count_parameters(pl_module),
            "trainable_params": count_parameters(pl_module, trainable_only=True),
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "monitor": monitor,
            "mode": mode,
        }
        if self._fit_started is not None:
            summary["fit_seconds"] = round(time.perf_counter() - self._fit_started, 2)
        ckpt = trainer.checkpoint_callback
        best_path = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
        if best_path:
            score = ckpt.best_model_score
            epoch, step = best_checkpoint_epoch(best_path)
            summary.update(
                best_checkpoint=best_path,
                best_score=None if score is None else float(score),
                best_epoch=epoch,
                best_step=step,
            )
        for logger in loggers:
            logger.experiment.summary.update(summary)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        loggers = wandb_loggers(trainer)
        if not loggers or not trainer.is_global_zero:
            return
        tested = trainer.ckpt_path or "the weights in memory"
        for logger in loggers:
            logger.experiment.summary["test_checkpoint"] = str(tested)


class BestModelArtifact(Callback):
    """The best checkpoint (by the task's monitored metric, the whole Lightning checkpoint with its data state) as
    one version of a W&B model artifact, aliased ``best`` and ``latest``, for every ``WandbLogger`` whose run
    config has ``model_artifact`` (``<name>:best``) and ``log_model`` (set by ``runtime.wandb_run`` from the
    logger's ``log_model`` option). The file is ``model.ckpt``; the metadata holds ``score`` (the monitored
    value), ``monitor``, ``mode``, ``epoch``, ``global_step`` and ``original_filename``.

    ``log_model: true``: at fit end. ``log_model: all``: also each new best as it appears (checked before every
    validation, as the previous one was decided at the end of the last), so the versions trace the run's bests.
    """

    def __init__(self) -> None:
        self._logged: set[tuple[str, str, float | None]] = set()

    @staticmethod
    def _targets(trainer: Trainer, every_best: bool) -> list[tuple[WandbLogger, str]]:
        if not trainer.is_global_zero:
            return []
        out = []
        for logger in wandb_loggers(trainer):
            config = logger.experiment.config
            intent, target = config.get(LOG_MODEL_KEY), config.get("model_artifact")
            if intent and target and (intent == "all" or not every_best):
                out.append((logger, str(target).rpartition(":")[0] or str(target)))
        return out

    def _log_best(self, trainer: Trainer, pl_module: LightningModule, every_best: bool) -> None:
        ckpt = trainer.checkpoint_callback
        path = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
        if not path or not Path(path).is_file():
            return
        targets = self._targets(trainer, every_best)
        if not targets:
            return
        import wandb  # only runs with a WandbLogger get here

        score = None if ckpt.best_model_score is None else float(ckpt.best_model_score)
        monitor, mode = monitored(trainer, pl_module)
        epoch, step = best_checkpoint_epoch(path)
        metadata = {
            "score": score,
            "monitor": monitor,
            "mode": mode,
            "epoch": epoch,
            "global_step": step,
            "original_filename": Path(path).name,
        }
        for logger, name in targets:
            key = (name, path, score)
            if key in self._logged:
                continue
            artifact = wandb.Artifact(name=name, type="model", metadata=metadata)
            artifact.add_file(path, name="model.ckpt", policy=getattr(logger, "add_file_policy", "mutable"))
            logger.experiment.log_artifact(artifact, aliases=["best", "latest"])
            self._logged.add(key)

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._log_best(trainer, pl_module, every_best=True)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._log_best(trainer, pl_module, every_best=False)


def dashboard_callbacks(loggers: Any, table_rows: int = 64) -> list[Callback]:
    """What ``cli.py`` adds to a run whose config attaches a ``WandbLogger``: ``WandbRunSummary``,
    ``BestModelArtifact`` (idle unless the logger's ``log_model`` is set) and
    ``callbacks.wandb_tables.PredictionTables`` (``table_rows`` rows; 0: no table)."""
    if loggers in (None, False, True):
        return []
    entries = loggers if isinstance(loggers, list) else [loggers]
    if not any(str(getattr(e, "class_path", type(e).__name__)).endswith("WandbLogger") for e in entries):
        return []
    from callbacks.wandb_tables import PredictionTables

    return [WandbRunSummary(), BestModelArtifact(), PredictionTables(rows=table_rows)]


WANDB_TABLE_ROWS_HELP = "Rows of the test-prediction table a W&B run gets (callbacks.wandb_tables; 0: none)."
