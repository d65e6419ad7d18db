"""Generic regression task (house prices, forecasting): the loss on scaled targets, metrics in real units."""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from lab_modules.optim import build_optimizers
from lab_modules.task import LabTask, accepted_inputs, batch_mean
from labcore.errors import LabError

LOSSES = ("mse", "mae", "huber")


class Regressor(LabTask):
    """Trains ``net`` on batches ``{target_key: N x out scaled targets, **inputs}``.

    The net gets the batch entries its ``forward`` names (``features``, ``window``, ...). Targets
    arrive scaled by the datamodule; ``real = scaled * target_scale + target_shift`` (one value per
    output column, or one for all). The loss is computed on scaled values (``mse``, ``mae`` or
    ``huber``); ``val`` / ``test`` log ``loss`` (scaled, what is optimised) and ``mse``, ``rmse``,
    ``mae``, ``r2`` in REAL units (torchmetrics, synchronised across ranks). When the batch holds
    ``baseline_key`` (e.g. the naive last-value forecast, scaled like the target), the same metrics
    of that baseline are logged as ``<stage>/baseline_rmse`` / ``baseline_mae`` beside them.

    Args:
        net: the network; its output is reshaped to the target's shape (N x out).
        loss: ``mse`` | ``mae`` | ``huber`` (``huber_delta`` in scaled units).
        optimizer / lr_scheduler: injected; ``scheduler_interval`` / ``scheduler_monitor`` as in the Classifier.
        target_shift / target_scale / target_names: filled from the data's ``model_info()``; saved in
            the checkpoint so ``predict`` writes real units without the training data.
        target_key: the batch key holding the (scaled) targets.
        baseline_key: the batch key of a reference prediction, if the data offers one.
    """

    monitor = "val/rmse"
    monitor_mode = "min"
    prediction_kind = "values"

    def __init__(
        self,
        net: nn.Module,
        loss: Literal["mse", "mae", "huber"] = "mse",
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        target_shift: list[float] | None = None,
        target_scale: list[float] | None = None,
        target_names: list[str] | None = None,
        target_key: str = "y",
        baseline_key: str | None = "naive",
        huber_delta: float = 1.0,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise LabError(f"unknown loss {loss!r}; pass --model.init_args.loss {' | '.join(LOSSES)}")
        self.save_hyperparameters(ignore=["net"])
        self.net, self.optimizer, self.lr_scheduler = net, optimizer, lr_scheduler
        self.target_key, self.baseline_key = target_key, baseline_key
        self.loss_fn = {"mse": nn.MSELoss(), "mae": nn.L1Loss(), "huber": nn.HuberLoss(delta=huber_delta)}[loss]
        lengths = {len(v) for v in (target_shift, target_scale, target_names) if v}
        if len(lengths - {1}) > 1:
            raise LabError(
                f"target_shift, target_scale and target_names have different lengths ({sorted(lengths)}); "
                f"remove them from the config (they are filled from the data)"
            )
        self.num_outputs = max(lengths, default=1)
        self.target_names = list(target_names) if target_names else [f"y{i}" for i in range(self.num_outputs)]
        # Not persistent: hparams already carry them, and old checkpoints stay loadable.
        self.register_buffer("shift", torch.tensor(target_shift or [0.0], dtype=torch.float32), persistent=False)
        self.register_buffer("scale", torch.tensor(target_scale or [1.0], dtype=torch.float32), persistent=False)
        self._net_inputs = accepted_inputs(net)

        def metrics(prefix: str) -> MetricCollection:
            return MetricCollection(
                {
                    "mse": MeanSquaredError(),
                    "rmse": MeanSquaredError(squared=False),
                    "mae": MeanAbsoluteError(),
                    "r2": R2Score(),  # over several outputs: the mean of the per-column R2
                },
                prefix=prefix,
            )

        self.train_loss, self.val_loss, self.test_loss = batch_mean(), batch_mean(), batch_mean()
        self.val_metrics, self.test_metrics = metrics("val/"), metrics("test/")
        base = MetricCollection({"rmse": MeanSquaredError(squared=False), "mae": MeanAbsoluteError()})
        self.val_baseline = base.clone(prefix="val/baseline_")
        self.test_baseline = base.clone(prefix="test/baseline_")

    # --- units ---------------------------------------------------------------------------------
    def to_real(self, scaled: Tensor) -> Tensor:
        """Scaled values (N x out) -> real units."""
        return scaled * self.scale + self.shift

    def to_scaled(self, real: Tensor) -> Tensor:
        """Real units (N x out) -> the scaled values the net is trained on."""
        return (real - self.shift) / self.scale

    # --- steps ---------------------------------------------------------------------------------
    def forward(self, **inputs: Tensor) -> Tensor:
        if self._net_inputs is not None:
            inputs = {k: v for k, v in inputs.items() if k in self._net_inputs}
        return self.net(**inputs)

    def predict_scaled(self, batch: dict[str, Tensor]) -> Tensor:
        """The net's output for ``batch`` as N x out scaled values."""
        out = self(**{k: v for k, v in batch.items() if k not in (self.target_key, self.baseline_key)})
        n = out.shape[0]
        if self.target_key in batch:
            want = batch[self.target_key].reshape(n, -1).shape[1]
        else:
            want = self.num_outputs if self.hparams.target_names else max(out.numel() // max(n, 1), 1)
        if out.numel() != n * want:
            raise LabError(
                f"the net gives {tuple(out.shape)} per batch but the data has {want} target value(s) per example; "
                f"set the net's output size to {want}"
            )
        return out.reshape(n, want)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        pred = self.predict_scaled(batch)
        target = batch[self.target_key].reshape(pred.shape).to(pred.dtype)
        loss = self.loss_fn(pred, target)
        n = pred.shape[0]
        if stage == "train":
            self.train_loss.update(loss.detach(), weight=n)  # logged at the epoch's end
            return loss
        getattr(self, f"{stage}_loss").update(loss.detach(), weight=n)
        self.log(f"{stage}/loss", getattr(self, f"{stage}_loss"), on_epoch=True, prog_bar=True, batch_size=n)
        real_pred, real_target = self.to_real(pred.detach()), self.to_real(target)
        metrics = getattr(self, f"{stage}_metrics")
        if self.num_outputs > 1:
            metrics.update(real_pred, real_target)
        else:
            metrics.update(real_pred.flatten(), real_target.flatten())
        self.log_dict(metrics, on_epoch=True, prog_bar=stage == "val")
        if self.baseline_key and self.baseline_key in batch:
            base = self.to_real(batch[self.baseline_key].reshape(pred.shape).to(pred.dtype))
            baseline = getattr(self, f"{stage}_baseline")
            baseline.update(base.flatten(), real_target.flatten())
            self.log_dict(baseline, on_epoch=True)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_epoch_end(self) -> None:
        # a metric object: Lightning computes it (over every rank) after this hook and resets it
        self.log("train/loss", self.train_loss, prog_bar=True)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """``pred`` (N x out, real units) and, where the batch has them, ``target`` and ``baseline``."""
        pred = self.predict_scaled(batch)
        out = {"pred": self.to_real(pred)}
        if self.target_key in batch:
            out["target"] = self.to_real(batch[self.target_key].reshape(pred.shape).to(pred.dtype))
        if self.baseline_key and self.baseline_key in batch:
            out["baseline"] = self.to_real(batch[self.baseline_key].reshape(pred.shape).to(pred.dtype))
        return out

    def configure_optimizers(self) -> Any:
        interval = self.hparams.scheduler_interval
        steps = self.trainer.estimated_stepping_batches if interval == "step" else self.trainer.max_epochs
        params = [p for p in self.parameters() if p.requires_grad]
        return build_optimizers(
            params, self.optimizer, self.lr_scheduler, interval, self.hparams.scheduler_monitor, steps
        )
