"""Object detection task: torchvision detectors, their loss dict summed, COCO mAP (torchmetrics + pycocotools)."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import batched_nms
from torchvision.utils import draw_bounding_boxes

from lab_modules.optim import build_optimizers
from lab_modules.task import LabTask
from labcore.errors import LabError

Backend = Literal["pycocotools", "faster_coco_eval"]

PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4"]


def unpad(batch: dict[str, Tensor], ignore_regions: bool = False) -> list[dict[str, Tensor]]:
    """The padded ``boxes`` / ``labels`` of a batch (labels -1 = padding) -> one target dict per image.

    Ignore regions (``iscrowd`` 1) are left out, or with ``ignore_regions`` kept and flagged in each
    dict's ``iscrowd`` (what ``MeanAveragePrecision`` reads)."""
    crowd = batch.get("iscrowd")
    if crowd is None:
        crowd = torch.zeros_like(batch["labels"])
    out = []
    for boxes, labels, c in zip(batch["boxes"], batch["labels"], crowd):
        keep = labels >= 0 if ignore_regions else (labels >= 0) & (c == 0)
        target = {"boxes": boxes[keep], "labels": labels[keep]}
        if ignore_regions:
            target["iscrowd"] = c[keep]
        out.append(target)
    return out


def map_metric(backend: Backend = "pycocotools", max_detections: int = 100) -> MeanAveragePrecision:
    """torchmetrics' COCO mAP over boxes (``xyxy``), per class, through ``backend``."""
    if backend not in ("pycocotools", "faster_coco_eval"):
        raise LabError(f"map_backend={backend!r}; pass pycocotools or faster_coco_eval")
    if importlib.util.find_spec(backend) is None:
        raise LabError(f"map_backend={backend} is not installed; pip install {backend.replace('_', '-')}")
    return MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        class_metrics=True,
        backend=backend,
        max_detection_thresholds=[1, 10, max_detections],
    )


class Detector(LabTask):
    """Trains ``net`` (``lab_modules.nets.TorchvisionDetector``: images + targets -> loss dict in training,
    detections in eval) on the sum of its loss dict, each part logged as ``train/<part>``.

    ``train/loss_epoch`` is the image-weighted mean over every rank (a ``MeanMetric``, restored by a
    mid-epoch resume).

    Validation and test: COCO mAP (torchmetrics' ``MeanAveragePrecision``, ``map_backend``
    pycocotools or faster-coco-eval) over ALL the split's detections and their scores (no threshold:
    the precision-recall curve needs every one), with the batch's ``iscrowd`` boxes (difficult,
    crowd, tiny) as ignore regions: ``<stage>/map`` (IoU .50:.95, the checkpoint monitor),
    ``<stage>/map_50``, ``<stage>/map_75`` and ``<stage>/ap/<class>``. No batch is ever skipped:
    errors propagate.

    ``predict`` keeps detections with score >= ``score_threshold`` after class-wise NMS at ``nms_iou``,
    maps them back to the input files' pixel size, and returns them padded to ``max_detections``
    (label -1 = none) with the images drawn (``drawn``); ``callbacks.PredictionWriter`` writes
    ``predictions.csv`` and ``predictions.png``.
    """

    monitor = "val/map"
    monitor_mode = "max"
    prediction_kind = "boxes"
    prediction_grid_key = "drawn"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.SGD,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        class_names: list[str] | None = None,
        score_threshold: float = 0.5,
        nms_iou: float = 0.5,
        max_detections: int = 100,
        map_backend: Backend = "pycocotools",
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net, self.optimizer, self.lr_scheduler = net, optimizer, lr_scheduler
        self.class_names = list(class_names or [])
        self.train_loss = MeanMetric()
        self.val_map = map_metric(map_backend, max_detections)
        self.test_map = map_metric(map_backend, max_detections)

    def forward(self, image: Tensor) -> list[dict[str, Tensor]]:
        """Detections (all of the net's, before ``score_threshold``) per image."""
        return self.net(image)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        losses = self.net(batch["image"], unpad(batch))
        loss = sum(losses.values())
        n = batch["image"].shape[0]
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        self.train_loss(loss.detach(), weight=n)
        self.log("train/loss", self.train_loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def _eval_step(self, batch: dict[str, Tensor], stage: str) -> None:
        preds = self.net(batch["image"])
        getattr(self, f"{stage}_map").update(preds, unpad(batch, ignore_regions=True))

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _log_map(self, stage: str) -> None:
        metric = getattr(self, f"{stage}_map")
        result = metric.compute()  # synchronised over DDP ranks: the same value on each
        metric.reset()
        for key in ("map", "map_50", "map_75"):
            self.log(f"{stage}/{key}", result[key].float(), prog_bar=key == "map", sync_dist=False)
        per_class = result["map_per_class"].reshape(-1)
        for c, ap in zip(result["classes"].reshape(-1).tolist(), per_class.tolist()):
            if ap >= 0:
                name = self.class_names[c] if 0 <= c < len(self.class_names) else str(c)
                self.log(f"{stage}/ap/{name}", float(ap), sync_dist=False)

    def on_validation_epoch_end(self) -> None:
        self._log_map("val")

    def on_test_epoch_end(self) -> None:
        self._log_map("test")

    # --- predictions and figures ---------------------------------------------------------------
    def detections(self, image: Tensor) -> list[dict[str, Tensor]]:
        """Detections with score >= ``score_threshold`` after class-wise NMS at ``nms_iou``."""
        out = []
        for d in self(image):
            keep = d["scores"] >= self.hparams.score_threshold
            boxes, scores, labels = d["boxes"][keep], d["scores"][keep], d["labels"][keep]
            keep = batched_nms(boxes, scores, labels, self.hparams.nms_iou)[: self.hparams.max_detections]
            out.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return out

    def draw(self, image: Tensor, boxes: Tensor, labels: Tensor, scores: Tensor | None = None) -> Tensor:
        """One image (3 x H x W in [0, 1]) with its boxes, class names (and scores) drawn, in [0, 1]."""
        names = [self.class_names[i] if 0 <= i < len(self.class_names) else str(i) for i in labels.tolist()]
        if scores is not None:
            names = [f"{n} {s:.2f}" for n, s in zip(names, scores.tolist())]
        colors = [PALETTE[i % len(PALETTE)] for i in labels.tolist()]
        img = (image.detach().cpu().clamp(0, 1) * 255).to(torch.uint8)
        if len(boxes):
            img = draw_bounding_boxes(img, boxes.detach().cpu(), labels=names, colors=colors, width=1)
        return img.float() / 255

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        image = batch["image"]
        k = self.hparams.max_detections
        n, size = image.shape[0], image.shape[-2:]
        boxes = torch.zeros(n, k, 4, device=image.device)
        scores = torch.zeros(n, k, device=image.device)
        labels = torch.full((n, k), -1, dtype=torch.long, device=image.device)
        drawn = []
        for j, d in enumerate(self.detections(image)):
            m = len(d["labels"])
            drawn.append(self.draw(image[j], d["boxes"], d["labels"], d["scores"]))
            scale = torch.ones(4, device=image.device)
            if "orig_size" in batch:  # back to the file's pixels: x by W / S, y by H / S
                h, w = batch["orig_size"][j].tolist()
                scale = torch.tensor([w / size[1], h / size[0]] * 2, device=image.device)
            boxes[j, :m], scores[j, :m], labels[j, :m] = d["boxes"] * scale, d["scores"], d["labels"]
        out = {"boxes": boxes, "scores": scores, "labels": labels, "drawn": torch.stack(drawn)}
        if "index" in batch:
            out["index"] = batch["index"]
        return out

    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        """Ground truth vs predicted boxes (score >= ``score_threshold``, after NMS) on a fixed batch."""
        image = batch["image"]
        truth = [self.draw(image[j], t["boxes"], t["labels"]) for j, t in enumerate(unpad(batch))]
        pred = [self.draw(image[j], d["boxes"], d["labels"], d["scores"]) for j, d in enumerate(self.detections(image))]
        return {"boxes": {"truth": torch.stack(truth), "predicted": torch.stack(pred)}}

    def configure_optimizers(self) -> Any:
        interval = self.hparams.scheduler_interval
        steps = self.trainer.estimated_stepping_batches if interval == "step" else self.trainer.max_epochs
        return build_optimizers(self.parameters(), self.optimizer, self.lr_scheduler, interval, "val/map", steps)
