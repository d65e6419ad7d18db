"""torchvision detection models as plain ``nn.Module``s, with class ids 0..C-1 outside and the
background class 0 kept inside (torchvision's convention), so the data's labels pass unchanged.

Offline there are no pretrained detection weights: ``weights`` / ``weights_backbone`` stay None (the
default) and the model trains from scratch; with a network, torchvision's COCO weights
(``weights: DEFAULT``, Faster R-CNN only; the box predictor is replaced for ``num_classes``) or its
ImageNet backbone weights (``weights_backbone: DEFAULT``) are the documented online choice.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import Tensor, nn
from torchvision.models import detection as tvd
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from labcore.errors import LabError

ARCHITECTURES = (
    "fasterrcnn_small",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large",
)


def small_backbone(width: int = 64) -> nn.Sequential:
    """Five 3x3 conv + BatchNorm + ReLU layers, stride 8, ``2 * width`` output channels: enough for
    digits on 128 px canvases and cheap on a CPU."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    w = width
    layers = [*block(3, w // 2, 2), *block(w // 2, w, 2), *block(w, w, 1), *block(w, 2 * w, 2), *block(2 * w, 2 * w, 1)]
    net = nn.Sequential(*layers)
    net.out_channels = 2 * w
    return net


class TorchvisionDetector(nn.Module):
    """``forward(images, targets=None)``: a list (or batch) of 3 x H x W images in [0, 1]; in training
    mode with targets (dicts of ``boxes`` xyxy and ``labels`` 0..C-1) -> torchvision's loss dict, in eval
    mode -> one dict per image of ``boxes``, ``scores``, ``labels`` (0..C-1).

    Args:
        num_classes: object classes (filled from the data: the config never sets it), background excluded.
        architecture: one of ``ARCHITECTURES``; ``fasterrcnn_small`` is Faster R-CNN on ``small_backbone``
            with one stride-8 feature map and anchors ``anchor_sizes`` x ``aspect_ratios`` (height / width).
        image_size: the models' own resize target (the data's image size; SSDlite stays at 320).
        score_threshold / nms_iou / detections_per_image: torchvision's post-processing of eval outputs.
        weights / weights_backbone: torchvision weight names (``DEFAULT``) or None (offline: None).
    """

    def __init__(
        self,
        num_classes: int = 10,
        architecture: str = "fasterrcnn_small",
        image_size: int = 128,
        width: int = 64,
        anchor_sizes: list[int] = [16, 32, 48],  # noqa: B006
        aspect_ratios: list[float] = [1.0, 2.0, 4.0],  # noqa: B006
        score_threshold: float = 0.05,
        nms_iou: float = 0.5,
        detections_per_image: int = 100,
        weights: str | None = None,
        weights_backbone: str | None = None,
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise LabError(f"architecture={architecture!r}; use one of {', '.join(ARCHITECTURES)}")
        self.num_classes, self.architecture = num_classes, architecture
        post = {
            "box_score_thresh": score_threshold,
            "box_nms_thresh": nms_iou,
            "box_detections_per_img": detections_per_image,
        }
        try:
            self.model = self._build(
                architecture,
                num_classes + 1,
                image_size,
                width,
                anchor_sizes,
                aspect_ratios,
                post,
                weights,
                weights_backbone,
            )
        except OSError as e:  # urllib errors: the weights could not be downloaded
            raise LabError(
                f"{architecture}: cannot fetch weights ({e}); offline, pass weights: null, weights_backbone: null"
            ) from None

    @staticmethod
    def _build(
        arch: str,
        n: int,
        size: int,
        width: int,
        sizes: list[int],
        ratios: list[float],
        post: dict[str, Any],
        weights: str | None,
        weights_backbone: str | None,
    ) -> nn.Module:
        if arch == "fasterrcnn_small":
            backbone = small_backbone(width)
            return tvd.FasterRCNN(
                backbone,
                num_classes=None,
                min_size=size,
                max_size=size,
                image_mean=[0.5, 0.5, 0.5],
                image_std=[0.25, 0.25, 0.25],
                rpn_anchor_generator=AnchorGenerator((tuple(sizes),), (tuple(ratios),)),
                box_roi_pool=MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2),
                box_head=TwoMLPHead(backbone.out_channels * 49, 128),
                box_predictor=FastRCNNPredictor(128, n),
                rpn_pre_nms_top_n_train=600,
                rpn_post_nms_top_n_train=300,
                rpn_pre_nms_top_n_test=300,
                rpn_post_nms_top_n_test=100,
                rpn_batch_size_per_image=128,
                box_batch_size_per_image=64,
                **post,
            )
        if arch == "ssdlite320_mobilenet_v3_large":
            ssd_post = {
                "score_thresh": post["box_score_thresh"],
                "nms_thresh": post["box_nms_thresh"],
                "detections_per_img": post["box_detections_per_img"],
            }
            return tvd.ssdlite320_mobilenet_v3_large(
                weights=None, weights_backbone=weights_backbone, num_classes=n, **ssd_post
            )
        build = getattr(tvd, arch)
        if weights:
            model = build(weights=weights, min_size=size, max_size=size, **post)  # COCO head, replaced below
            in_features = model.roi_heads.box_predictor.cls_score.in_features
            model.roi_heads.box_predictor = FastRCNNPredictor(in_features, n)
            return model
        return build(
            weights=None, weights_backbone=weights_backbone, num_classes=n, min_size=size, max_size=size, **post
        )

    def forward(self, images: Tensor | list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:
        images = list(images)
        if targets is not None:
            top = max((int(t["labels"].max()) for t in targets if len(t["labels"])), default=-1)
            if top >= self.num_classes:
                raise LabError(
                    f"a target has class {top} but num_classes={self.num_classes}; let the data fill num_classes"
                )
            targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]  # 0 = background
        out = self.model(images, targets)
        if isinstance(out, (dict, OrderedDict)):
            return out
        return [{**o, "labels": o["labels"] - 1} for o in out]


__all__ = ["ARCHITECTURES", "TorchvisionDetector", "small_backbone"]
