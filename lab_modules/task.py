"""The task-module contract: what ``cli.py``, the figure callbacks and the prediction writer read.

Every task module derives from :class:`LabTask`. Nothing outside this class's documented
attributes and methods is looked up on a task module; a new task kind (translate, forecast,
detect, ...) overrides what differs and inherits the rest.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from labcore.errors import LabError
from labcore.process_group import destroy_at_exit

PredictionKind = Literal["classes", "images", "boxes", "values", "tensors", "texts"]
AUTO = "auto"  # a monitor / mode that follows the task module's declaration


class LabTask(L.LightningModule):
    """Base class of the task modules (classify, segment, generate, ...).

    **Monitored metric.** ``monitor`` is the validation metric (logged under exactly that name)
    that the best checkpoint and ``callbacks.TaskEarlyStopping`` follow, ``monitor_mode`` whether
    higher (``max``) or lower (``min``) is better. ``None``: no metric ranks checkpoints (only
    ``last.ckpt`` is kept). A config overrides it with ``checkpoint.monitor`` / ``checkpoint.mode``
    (and the early-stopping callback's own ``monitor`` / ``mode``). May be a property when it
    depends on the constructor's arguments.

    **Data -> model arguments.** Constructor arguments of the task module and of every injected
    ``nn.Module`` (``net``, ``generator``, ...) named like a key of the datamodule's
    ``model_info()`` (``num_classes``, ``class_names``, ``in_channels``, ``vocab_size``, ...) are
    filled by the CLI from the data; a config value that contradicts the data is an error. They
    land in ``hparams`` and so in the checkpoint, which is how ``predict --ckpt_path`` rebuilds
    the model without the training data.

    **Predictions.** ``predict_step`` returns a dict of tensors with the batch as first dimension;
    ``prediction_kind`` tells ``callbacks.PredictionWriter`` how to write them into the run
    directory (one file set per rank under DDP):

    - ``classes``: ``pred`` (N class ids), ``probs`` (N x C) and, when the data has labels,
      ``label`` -> ``predictions.csv`` with names from ``class_names``;
    - ``images``: image tensors N x C x H x W in [0, 1] (and any other tensors) ->
      ``predictions.pt`` (images as uint8) and ``predictions.png``, a grid of ``prediction_grid_key``;
    - ``boxes``: ``boxes`` (N x K x 4), ``scores`` (N x K), ``labels`` (N x K, -1 = no detection) and
      optionally ``index`` (N) and ``drawn`` (N x 3 x H x W in [0, 1]) -> ``predictions.csv`` (one row per
      box, names from ``class_names``) and ``predictions.png``, a grid of ``prediction_grid_key``;
    - ``values``: ``pred`` (N x out, real units) and, where present, ``target`` and ``baseline`` (same
      shape) -> ``predictions.csv``, one row per example, columns named from ``target_names``;
    - ``tensors``: anything else -> ``predictions.pt`` (the concatenated dict);
    - ``texts``: lists of strings (e.g. ``source``, ``greedy``, ``beam``) -> ``predictions.tsv``, one column each.

    **Logging.** One idiom: ``self.log`` / ``self.log_dict``, epoch means as torchmetrics objects (updated in
    the step, logged with ``on_epoch=True`` or from the epoch-end hook), so every value reaches
    ``trainer.callback_metrics`` and can be monitored (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau).
    A training step value is logged under its own name (``train/loss_step``, ``on_step=True`` only) beside the
    epoch mean (``train/loss``), through ``log_step`` at the steps Lightning writes (every ``log_every_n_steps``).

    **DDP.** ``ddp_find_unused_parameters``: True for a task whose backward passes leave some
    parameters out (a GAN's discriminator step never reaches the generator); the CLI then picks the DDP
    strategy's registered ``*_find_unused_parameters_true`` twin (``runtime/strategy.py``).

    **Figures.** ``figure_batches(batch, stage)`` -> ``{name: images | {row: images} | Figure}``
    is drawn by ``callbacks.ImageGrids`` on a fixed batch; ``confusion_matrix(stage)`` (a
    torchmetrics confusion matrix, synchronised across ranks) by ``callbacks.ConfusionMatrixFigure``;
    ``probabilities(outputs)`` (N x C) by the classification figures. ``class_names`` names the
    classes wherever a figure or the writer prints one.
    """

    monitor: ClassVar[str | None] = "val/loss"
    monitor_mode: ClassVar[Literal["min", "max"]] = "min"
    prediction_kind: ClassVar[PredictionKind] = "tensors"
    prediction_grid_key: ClassVar[str | None] = None
    class_names: list[str] = []
    target_names: list[str] = []
    ddp_find_unused_parameters: ClassVar[bool] = False

    def setup(self, stage: str) -> None:
        # TF32 matmuls on CUDA (Lightning's advice for tensor-core GPUs), full fp32 elsewhere: on a CPU with bf16
        # units "high" lets oneDNN emulate fp32 matmuls with bf16 passes, which slows RNN and MLP steps
        # (`tests/test_task_contract.py` pins the choice; docs/speed.md has the measurement). Set in every process.
        torch.set_float32_matmul_precision("high" if self.trainer.strategy.root_device.type == "cuda" else "highest")
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            destroy_at_exit()  # Lightning leaves the group alive; a gloo group at finalisation can abort the process

    def log_step(self, name: str, value: Tensor, **kwargs: Any) -> None:
        """``self.log(name, value, on_step=True, on_epoch=False)`` at the training steps Lightning writes to the
        loggers (``(step + 1) % log_every_n_steps == 0``, the step a run stops at, every step under
        ``fast_dev_run``), so the value a logger shows is the loss of that very step and reaches
        ``trainer.callback_metrics`` there. The other steps skip Lightning's per-call bookkeeping, a noticeable
        share of a small net's step."""
        trainer = self.trainer
        n = trainer.log_every_n_steps
        if trainer.fast_dev_run or (n and ((self.global_step + 1) % n == 0 or trainer.should_stop)):
            self.log(name, value, on_step=True, on_epoch=False, **kwargs)

    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        """What ``ImageGrids`` draws for this fixed ``batch`` (eval mode, no grad). Default: nothing."""
        return {}

    def confusion_matrix(self, stage: str) -> Metric | None:
        """The ``val`` / ``test`` confusion-matrix metric, or None where the task has none."""
        return None

    def probabilities(self, outputs: Tensor) -> Tensor:
        """N x C class probabilities from ``self(**inputs)``. Default: softmax over the last dim."""
        return outputs.softmax(dim=-1)


def batch_mean() -> MeanMetric:
    """The epoch mean of batch values (a loss) weighted by batch size (``update(value, weight=n)``), synchronised
    across ranks. A NaN value must show, not be dropped: NaN is "replaced" by NaN. (``nan_strategy="disable"``
    would also keep it, but torchmetrics then ignores the weights, and a short last batch would count as much
    as a full one.)"""
    return MeanMetric(nan_strategy=float("nan"))


def accepted_inputs(net: nn.Module) -> set[str] | None:
    """Names ``net.forward`` accepts, or None if it takes ``**kwargs`` (then it gets every batch entry)."""
    params = inspect.signature(net.forward).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def resolve_monitor(model: Any, monitor: str | None, mode: str, where: str) -> tuple[str | None, str]:
    """``auto`` -> the task's ``monitor`` / ``monitor_mode`` (``lab_modules.task.LabTask``); an explicit
    monitor needs an explicit mode unless it is the task's own metric."""
    task_monitor = model.monitor if isinstance(model, LabTask) else None
    task_mode = model.monitor_mode if isinstance(model, LabTask) else "min"
    if monitor == AUTO:
        return task_monitor, task_mode if mode == AUTO else mode
    if mode == AUTO:
        if monitor is not None and monitor != task_monitor:
            raise LabError(
                f"{where}: monitor {monitor} is not the task's metric ({task_monitor}); "
                f"set its mode to min or max (--{where}.mode)"
            )
        return monitor, task_mode
    return monitor, mode
