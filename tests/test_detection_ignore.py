"""Detection ground truth: difficult (VOC), crowd (COCO) and tiny boxes are ignore regions in val/test."""

from __future__ import annotations

import json

import torch
from PIL import Image

from datamodules.detection import DetectionDataModule
from lab_modules.detector import Detector
from tests.test_detection_data import write_voc
from tests.test_detection_lab import FakeNet


def _coco(root):
    for split in ("train", "val", "test"):
        (root / "images" / split).mkdir(parents=True)
        Image.new("RGB", (64, 64)).save(root / "images" / split / "x.png")
    (root / "annotations").mkdir()
    for split in ("train", "val", "test"):
        anns = [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 20, 20], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 30, 30, 30], "iscrowd": 1},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [5, 40, 1, 10], "iscrowd": 0},  # 1 px wide
        ]
        data = {
            "images": [{"id": 1, "file_name": "x.png", "width": 64, "height": 64}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": anns,
        }
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return root


def test_crowd_and_tiny_boxes_are_ignore_regions_in_val_and_test_only(tmp_path):
    dm = DetectionDataModule(source="path", path=str(_coco(tmp_path)), image_size=64, min_box_size=2.0)
    dm.setup("fit")
    train = dm.datasets["train"][0]
    assert train["boxes"].tolist() == [[2.0, 3.0, 22.0, 23.0]] and train["iscrowd"].tolist() == [0]
    for split in ("val", "test"):
        item = dm.datasets[split][0]
        assert item["boxes"].tolist() == [[2.0, 3.0, 22.0, 23.0], [30.0, 30.0, 60.0, 60.0], [5.0, 40.0, 6.0, 50.0]]
        assert item["iscrowd"].tolist() == [0, 1, 1]
    batch = next(iter(dm.val_dataloader()))
    assert batch["iscrowd"].tolist() == [[0, 1, 1]]


def test_voc_difficult_objects_are_ignore_regions_in_val(tmp_path):
    write_voc(
        tmp_path,
        {"a": [("dog", 0, (1, 1, 10, 20))], "b": [("dog", 0, (11, 12, 21, 22)), ("dog", 1, (2, 2, 8, 8))]},
        {"train": ["a"], "val": ["b"], "test": ["b"]},
    )
    dm = DetectionDataModule(source="path", path=str(tmp_path), image_size=40)
    dm.setup("fit")
    assert dm.datasets["val"][0]["iscrowd"].tolist() == [0, 1]
    keep = DetectionDataModule(source="path", path=str(tmp_path), image_size=40, keep_difficult=True)
    keep.setup("fit")
    assert keep.datasets["val"][0]["iscrowd"].tolist() == [0, 0]


def _val_map(iscrowd: list[int]) -> float:
    # one object, two ignore regions; the net finds the object, and (with its highest score) one ignore region
    boxes = torch.tensor([[[2.0, 3.0, 22.0, 23.0], [30.0, 30.0, 60.0, 60.0], [5.0, 40.0, 15.0, 50.0]]])
    b = {
        "image": torch.rand(1, 3, 64, 64),
        "boxes": boxes,
        "labels": torch.tensor([[1, 1, 1]]),
        "iscrowd": torch.tensor([iscrowd]),
    }
    detections = {
        "boxes": torch.tensor([[30.0, 30.0, 60.0, 60.0], [2.0, 3.0, 22.0, 23.0]]),
        "scores": torch.tensor([0.9, 0.8]),
        "labels": torch.tensor([1, 1]),
    }
    det = Detector(FakeNet(detections), class_names=["bg", "person"])
    logged = {}
    det.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    det.eval()
    det.validation_step(b, 0)
    det.on_validation_epoch_end()
    return logged["val/map"]


def test_a_detection_on_an_ignore_region_is_neither_hit_nor_miss():
    assert _val_map([0, 1, 1]) == 1.0  # detecting one region costs nothing, missing the other neither
    assert _val_map([0, 0, 0]) < 1.0  # as ordinary objects, the missed one lowers the mAP: the check means something
