"""Denoising autoencoder task: MSE to the clean image, PSNR/SSIM beside the noisy input's."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from lab_modules.optim import build_optimizers
from lab_modules.shared_step import SharedStep
from lab_modules.task import LabTask


class DenoisingAutoencoder(SharedStep, LabTask):
    """``net(noisy) -> denoised`` in [0, 1], trained with MSE against ``image`` (the clean target).

    Logs ``<stage>/loss`` (MSE), ``<stage>/psnr`` and ``<stage>/ssim`` of the output and, on
    val/test, ``<stage>/psnr_noisy`` / ``<stage>/ssim_noisy`` of the noisy input itself (the
    baseline any denoiser must beat). Metrics from torchmetrics, data range [0, 1].
    Predictions: ``denoised`` and ``noisy`` images.
    """

    monitor = "val/psnr"
    monitor_mode = "max"
    prediction_kind = "images"
    prediction_grid_key = "denoised"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        input_key: str = "noisy",
        target_key: str = "image",
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net, self.optimizer, self.lr_scheduler = net, optimizer, lr_scheduler

        def metrics(prefix: str, postfix: str | None = None) -> MetricCollection:
            return MetricCollection(
                {
                    "psnr": PeakSignalNoiseRatio(data_range=1.0),
                    "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
                },
                prefix=prefix,
                postfix=postfix,
            )

        self.train_metrics = metrics("train/")
        self.val_metrics, self.val_noisy = metrics("val/"), metrics("val/", "_noisy")
        self.test_metrics, self.test_noisy = metrics("test/"), metrics("test/", "_noisy")

    def forward(self, noisy: Tensor) -> Tensor:
        return self.net(noisy)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        noisy, clean = batch[self.hparams.input_key], batch[self.hparams.target_key]
        out = self(noisy)
        loss = F.mse_loss(out, clean)
        n = clean.shape[0]
        train = stage == "train"  # val/test values are synchronised across ranks; per-step training logs need not be
        self.log(f"{stage}/loss", loss, on_step=train, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=not train)
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(out.clamp(0, 1), clean)
        self.log_dict(metrics, on_epoch=True, prog_bar=stage != "train", batch_size=n)
        if stage != "train":
            baseline = getattr(self, f"{stage}_noisy")
            baseline.update(noisy, clean)
            self.log_dict(baseline, on_epoch=True, batch_size=n)
        return loss

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        noisy = batch[self.hparams.input_key]
        return {"denoised": self(noisy), "noisy": noisy}

    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        noisy = batch[self.hparams.input_key]
        return {"denoising": {"noisy": noisy, "denoised": self(noisy), "clean": batch[self.hparams.target_key]}}

    def configure_optimizers(self) -> Any:
        return build_optimizers(
            self.parameters(), self.optimizer, self.lr_scheduler, "epoch", "val/loss", self.trainer.max_epochs
        )
