"""The Detector task module and the torchvision net wrapper (cheap: fake nets where the model does not matter)."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn
from torchmetrics import Metric

from callbacks.prediction_writer import write_box_predictions
from lab_modules.detector import Detector, unpad
from lab_modules.nets.detection import TorchvisionDetector
from labcore.errors import LabError


class FakeNet(nn.Module):
    """Loss dict in training, fixed detections in eval; records the targets it was given."""

    def __init__(self, detections=None, fail=False) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.detections, self.fail, self.targets = detections, fail, None

    def forward(self, images, targets=None):
        if self.fail:
            raise RuntimeError("bad batch")
        if targets is not None:
            self.targets = targets
            return {"loss_classifier": self.w * 2.0, "loss_box_reg": self.w * 0.5}
        return [dict(self.detections) for _ in images]


def batch(n=2):
    boxes = torch.tensor(
        [[[1.0, 2.0, 10.0, 12.0], [0.0, 0.0, 0.0, 0.0]], [[5.0, 5.0, 20.0, 30.0], [30.0, 30.0, 40.0, 40.0]]]
    )
    labels = torch.tensor([[3, -1], [7, 0]])
    return {
        "image": torch.rand(n, 3, 64, 64),
        "boxes": boxes[:n],
        "labels": labels[:n],
        "orig_size": torch.tensor([[128, 256]] * n),
        "index": torch.arange(n),
    }


def test_loss_is_the_sum_of_the_loss_dict_with_each_part_logged():
    net = FakeNet()
    det = Detector(net, class_names=[str(i) for i in range(10)])
    logged = {}
    # train/loss is a MeanMetric (synced under DDP, restored mid-epoch): its value after one batch
    det.log = lambda name, value, **kw: logged.__setitem__(
        name, float(value.compute() if isinstance(value, Metric) else value)
    )
    loss = det.training_step(batch(), 0)
    assert loss.item() == pytest.approx(2.5)
    assert logged == {"train/loss_classifier": 2.0, "train/loss_box_reg": 0.5, "train/loss": 2.5}
    # the targets carry the data's own labels, padding removed (the report set every label to 1)
    assert [t["labels"].tolist() for t in net.targets] == [[3], [7, 0]]


def test_a_failing_batch_is_not_skipped():
    # the report wrapped the step in try/except and silently skipped failing batches
    det = Detector(FakeNet(fail=True))
    with pytest.raises(RuntimeError, match="bad batch"):
        det.training_step(batch(), 0)


def test_net_wrapper_shifts_labels_past_the_background():
    net = TorchvisionDetector(num_classes=10, image_size=64)
    seen = {}

    class Model(nn.Module):
        def forward(self, images, targets=None):
            seen["labels"] = [t["labels"].tolist() for t in targets] if targets else None
            if targets:
                return {"loss": torch.zeros(())}
            return [{"boxes": torch.zeros(1, 4), "scores": torch.ones(1), "labels": torch.tensor([1])}]

    net.model = Model()
    net([torch.rand(3, 64, 64)], [{"boxes": torch.tensor([[1.0, 1, 9, 9]]), "labels": torch.tensor([0])}])
    assert seen["labels"] == [[1]]  # class 0 -> torchvision label 1 (0 is background)
    assert net([torch.rand(3, 64, 64)])[0]["labels"].tolist() == [0]


def test_small_faster_rcnn_trains_and_detects():
    torch.manual_seed(0)
    net = TorchvisionDetector(num_classes=10, image_size=64, width=16)
    b = batch()
    losses = net(b["image"], unpad(b))
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    net.eval()
    with torch.no_grad():
        out = net(b["image"])
    assert len(out) == 2 and out[0]["boxes"].shape[-1] == 4 and (out[0]["labels"] >= 0).all()
    with pytest.raises(LabError, match="num_classes"):
        TorchvisionDetector(num_classes=5, image_size=64, width=16)(b["image"], unpad(b))


def test_predictions_keep_scores_above_threshold_after_nms(tmp_path):
    # the report drew every raw detection: no score threshold, no NMS
    detections = {
        "boxes": torch.tensor([[0.0, 0, 10, 10], [0.5, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]),
        "scores": torch.tensor([0.9, 0.8, 0.6, 0.3]),
        "labels": torch.tensor([2, 2, 5, 2]),
    }
    det = Detector(FakeNet(detections), class_names=[str(i) for i in range(10)], score_threshold=0.5, max_detections=5)
    det.eval()
    out = det.predict_step(batch(1), 0)
    keep = out["labels"][0] >= 0
    assert out["scores"][0][keep].tolist() == pytest.approx([0.9, 0.6])  # duplicate (IoU .95) and 0.3 gone
    # 64 px input from a 256 x 128 (W x H) file: x scales by 4, y by 2
    assert out["boxes"][0][keep].tolist() == [[0.0, 0.0, 40.0, 20.0], [80.0, 40.0, 120.0, 60.0]]
    assert out["drawn"].shape == (1, 3, 64, 64)
    path = write_box_predictions([out], tmp_path, "", det.class_names, "drawn")[0]
    rows = list(csv.DictReader(open(path)))
    assert [(r["label_name"], r["score"], r["x2"]) for r in rows] == [("2", "0.9000", "40.0"), ("5", "0.6000", "120.0")]
    assert (tmp_path / "predictions.png").exists()


def test_validation_map_comes_from_the_validation_batches():
    # perfect detections of the batch's own boxes give 1.0; the metric sees every detection and its score
    b = batch()
    targets = unpad(b)

    class Echo(FakeNet):
        def forward(self, images, targets_=None):
            return [
                {"boxes": t["boxes"], "scores": torch.full((len(t["labels"]),), 0.9), "labels": t["labels"]}
                for t in targets
            ]

    det = Detector(Echo(), class_names=[str(i) for i in range(10)], map_backend="pycocotools")
    logged = {}
    det.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    det.eval()
    det.validation_step(b, 0)
    det.on_validation_epoch_end()
    assert logged["val/map"] == 1.0 and logged["val/map_50"] == 1.0 and logged["val/ap/7"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["fasterrcnn_mobilenet_v3_large_320_fpn", "ssdlite320_mobilenet_v3_large"])
def test_torchvision_architectures_build_offline_and_train(architecture):
    # the documented alternatives: built without weights (offline), one loss evaluation each
    torch.manual_seed(0)
    net = TorchvisionDetector(num_classes=10, architecture=architecture, image_size=128)
    b = batch(2)  # SSDlite's last BatchNorm sees 1 x 1 maps: it needs two images
    losses = net(torch.rand(2, 3, 128, 128), unpad(b))
    assert all(torch.isfinite(v) for v in losses.values()) and len(losses) >= 2
