"""Binary segmentation task: Dice + BCE loss (smp.losses), IoU and Dice (torchmetrics)."""

from __future__ import annotations

from typing import Any

import segmentation_models_pytorch as smp
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex

from lab_modules.optim import build_optimizers
from lab_modules.shared_step import SharedStep
from lab_modules.task import LabTask
from lab_modules.tiling import padded_call, sliding_window


class Segmenter(SharedStep, LabTask):
    """Trains ``net`` (image -> 1-channel logits of the same size: our ``UNet`` or ``smp.Unet``)
    on ``dice_weight * DiceLoss + bce_weight * BCE``.

    Validation, test and predict run on whole images: padded (reflect) to a multiple of
    ``pad_multiple``, or, with ``tile_size``, as averaged sliding windows (e.g. 512 x 512 images
    with a net trained on 256 crops, or when memory is short). Metrics over all pixels of the
    split at ``threshold``: ``<stage>/dice`` (= pixel F1 of the foreground) and ``<stage>/iou``
    (Jaccard), plus ``<stage>/loss`` and ``<stage>/dice_loss`` (the report's 'Dice loss').
    Predictions: ``mask`` (thresholded), ``probability`` and, with labels, ``truth``.
    """

    monitor = "val/dice"
    monitor_mode = "max"
    prediction_kind = "images"
    prediction_grid_key = "mask"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        dice_weight: float = 1.0,
        bce_weight: float = 1.0,
        threshold: float = 0.5,
        tile_size: int | None = None,
        tile_overlap: int = 32,
        pad_multiple: int = 32,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net, self.optimizer, self.lr_scheduler = net, optimizer, lr_scheduler
        self.dice_loss = smp.losses.DiceLoss(mode="binary", from_logits=True)
        self.bce_loss = smp.losses.SoftBCEWithLogitsLoss()

        def metrics(stage: str) -> MetricCollection:
            return MetricCollection(
                {"dice": BinaryF1Score(threshold=threshold), "iou": BinaryJaccardIndex(threshold=threshold)},
                prefix=f"{stage}/",
            )

        self.train_metrics, self.val_metrics, self.test_metrics = metrics("train"), metrics("val"), metrics("test")

    def forward(self, image: Tensor) -> Tensor:
        """Full-image logits."""
        hp = self.hparams
        if hp.tile_size and max(image.shape[-2:]) > hp.tile_size:
            return sliding_window(self.net, image, hp.tile_size, hp.tile_overlap, hp.pad_multiple)
        return padded_call(self.net, image, hp.pad_multiple)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        image, mask = batch["image"], batch["mask"]
        logits = self.net(image) if stage == "train" else self(image)
        dice = self.dice_loss(logits, mask)
        loss = self.hparams.dice_weight * dice + self.hparams.bce_weight * self.bce_loss(logits, mask)
        n = image.shape[0]
        sync = stage != "train"  # val/test values over every rank's examples; per-step training logs need not be
        self.log(f"{stage}/loss", loss, on_step=not sync, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=sync)
        self.log(f"{stage}/dice_loss", dice, on_epoch=True, batch_size=n, sync_dist=sync)
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(torch.sigmoid(logits).flatten(), mask.flatten().long())
        self.log_dict(metrics, on_epoch=True, prog_bar=stage != "train")
        return loss

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        prob = torch.sigmoid(self(batch["image"]))
        out = {"mask": (prob > self.hparams.threshold).float(), "probability": prob}
        if "mask" in batch:
            out["truth"] = batch["mask"]
        return out

    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        image = batch["image"]
        lo = image.amin(dim=(1, 2, 3), keepdim=True)
        hi = image.amax(dim=(1, 2, 3), keepdim=True)
        prob = torch.sigmoid(self(image))
        return {
            "triplets": {
                "image": (image - lo) / (hi - lo).clamp_min(1e-6),
                "truth": batch["mask"],
                "prediction": (prob > self.hparams.threshold).float(),
            }
        }

    def configure_optimizers(self) -> Any:
        interval = self.hparams.scheduler_interval
        steps = self.trainer.estimated_stepping_batches if interval == "step" else self.trainer.max_epochs
        return build_optimizers(self.parameters(), self.optimizer, self.lr_scheduler, interval, "val/loss", steps)
