"""A test oracle for COCO-style box mAP: :class:`BoxMAP`, pycocotools' ``COCOeval`` for boxes written out in
torch, checked against torchmetrics' ``MeanAveragePrecision`` (which the Detector uses) on random cases.

It follows ``COCOeval`` over one area range ("all") and at most ``max_detections`` detections per image and
class: per class, detections sorted by score are matched greedily to the unmatched ground-truth box of highest
IoU >= t (t in 0.50:0.05:0.95); precision is made monotone and read at the 101 recall points 0:0.01:1; AP
averages them; classes without ground truth are left out of the mean (their per-class value is -1). No crowd
regions. Results use torchmetrics' keys (``map``, ``map_50``, ``map_75``, ``map_per_class``, ``classes``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torchmetrics import Metric
from torchvision.ops import box_iou

IOU_THRESHOLDS = [0.5 + 0.05 * i for i in range(10)]
RECALL_POINTS = torch.linspace(0, 1, 101, dtype=torch.float64)


class BoxMAP(Metric):
    """mAP@[.5:.95], mAP@0.5, mAP@0.75 and per-class AP of boxes (``xyxy``), as pycocotools computes them.

    ``update(preds, target)`` takes torchmetrics' input: lists (one entry per image) of dicts with
    ``boxes`` (K x 4), ``scores`` (K, preds only) and ``labels`` (K). States are flat tensors with a
    per-image id that is unique across DDP ranks, so the synchronised result covers every rank's images.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, max_detections: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_detections = max_detections
        for name in ("det_boxes", "det_scores", "det_labels", "det_image", "gt_boxes", "gt_labels", "gt_image"):
            self.add_state(name, default=[], dist_reduce_fx="cat")
        self.add_state("n_images", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: list[dict[str, Tensor]], target: list[dict[str, Tensor]]) -> None:
        if len(preds) != len(target):
            raise ValueError(f"{len(preds)} predictions for {len(target)} targets")
        rank, world = (
            (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
        )
        for p, t in zip(preds, target):
            image = int(self.n_images) * world + rank
            self.n_images += 1
            self.det_boxes.append(p["boxes"].detach().float().reshape(-1, 4))
            self.det_scores.append(p["scores"].detach().float().reshape(-1))
            self.det_labels.append(p["labels"].detach().long().reshape(-1))
            self.det_image.append(torch.full((len(p["labels"]),), image, dtype=torch.long, device=self.device))
            self.gt_boxes.append(t["boxes"].detach().float().reshape(-1, 4))
            self.gt_labels.append(t["labels"].detach().long().reshape(-1))
            self.gt_image.append(torch.full((len(t["labels"]),), image, dtype=torch.long, device=self.device))

    @staticmethod
    def _cat(x: Any, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        if isinstance(x, Tensor):
            return x.cpu()
        return torch.cat([v.cpu() for v in x]) if len(x) else torch.zeros(shape, dtype=dtype)

    def compute(self) -> dict[str, Tensor]:
        db = self._cat(self.det_boxes, (0, 4), torch.float32)
        ds = self._cat(self.det_scores, (0,), torch.float32)
        dl = self._cat(self.det_labels, (0,), torch.long)
        di = self._cat(self.det_image, (0,), torch.long)
        gb = self._cat(self.gt_boxes, (0, 4), torch.float32)
        gl = self._cat(self.gt_labels, (0,), torch.long)
        gi = self._cat(self.gt_image, (0,), torch.long)
        classes = torch.cat([gl, dl]).unique().tolist()
        n_t = len(IOU_THRESHOLDS)
        ap = torch.full((len(classes), n_t), -1.0, dtype=torch.float64)
        for c_idx, c in enumerate(classes):
            ap[c_idx] = self._class_ap(db[dl == c], ds[dl == c], di[dl == c], gb[gl == c], gi[gl == c])
        valid = ap[:, 0] >= 0

        def mean(x: Tensor) -> Tensor:  # noqa: E306
            return x.mean().float() if x.numel() else torch.tensor(-1.0)

        per_class = torch.where(valid, ap.mean(dim=1), torch.tensor(-1.0, dtype=torch.float64)).float()
        return {
            "map": mean(ap[valid]),
            "map_50": mean(ap[valid, 0]),
            "map_75": mean(ap[valid, 5]),
            "map_per_class": per_class,
            "classes": torch.tensor(classes, dtype=torch.int32),
        }

    def _class_ap(self, db: Tensor, ds: Tensor, di: Tensor, gb: Tensor, gi: Tensor) -> Tensor:
        """AP at every IoU threshold for one class (-1 where the class has no ground truth)."""
        n_t = len(IOU_THRESHOLDS)
        if len(gb) == 0:
            return torch.full((n_t,), -1.0, dtype=torch.float64)
        scores, matched = [], []  # per image: kept detection scores and their match flags (T x K)
        for image in di.unique().tolist():
            d_mask, g_mask = di == image, gi == image
            order = torch.sort(-ds[d_mask], stable=True).indices[: self.max_detections]
            boxes, s = db[d_mask][order], ds[d_mask][order]
            gts = gb[g_mask]
            m = torch.zeros(n_t, len(boxes), dtype=torch.bool)
            if len(gts):
                iou = box_iou(boxes, gts).numpy()
                for t_idx, t in enumerate(IOU_THRESHOLDS):
                    free = np.ones(len(gts), dtype=bool)
                    for d in range(len(boxes)):
                        row = np.where(free, iou[d], -1.0)
                        g = int(row.argmax())
                        if row[g] >= min(t, 1 - 1e-10):  # the free ground truth of highest IoU, if >= t
                            free[g] = False
                            m[t_idx, d] = True
            scores.append(s)
            matched.append(m)
        if not scores:
            return torch.zeros(n_t, dtype=torch.float64)
        s = torch.cat(scores)
        m = torch.cat(matched, dim=1)
        order = torch.sort(-s.double(), stable=True).indices
        tp = m[:, order].double().cumsum(dim=1)
        fp = (~m[:, order]).double().cumsum(dim=1)
        recall = tp / len(gb)
        precision = tp / (tp + fp).clamp_min(torch.finfo(torch.float64).eps)
        # monotone precision envelope, from the right
        precision = precision.flip(1).cummax(dim=1).values.flip(1)
        out = torch.zeros(n_t, dtype=torch.float64)
        for t_idx in range(n_t):
            idx = torch.searchsorted(recall[t_idx].contiguous(), RECALL_POINTS, side="left")
            ok = idx < recall.shape[1]
            q = torch.zeros(len(RECALL_POINTS), dtype=torch.float64)
            q[ok] = precision[t_idx, idx[ok]]
            out[t_idx] = q.mean()
        return out
