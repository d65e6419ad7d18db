"""Detection data: VOC / COCO readers, boxes moved with the image, the digit-canvas generator."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.detection import BoxTransform, CanvasOptions, DetectionDataModule, DetectionDataset
from datamodules.detection_readers import read_coco, read_voc
from datamodules.digit_canvases import INK_THRESHOLD, POOLS, make_canvases
from labcore.errors import DataSourceError

VOC_XML = """<annotation><filename>{name}.jpg</filename><size><width>40</width><height>30</height></size>
{objects}</annotation>"""
VOC_OBJ = (
    "<object><name>{cls}</name><difficult>{diff}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
    "<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
)


def write_voc(root, items: dict[str, list[tuple[str, int, tuple[int, int, int, int]]]], splits: dict[str, list[str]]):
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, objs in items.items():
        Image.new("RGB", (40, 30)).save(root / "JPEGImages" / f"{name}.jpg")
        objects = "".join(VOC_OBJ.format(cls=c, diff=d, b=b) for c, d, b in objs)
        (root / "Annotations" / f"{name}.xml").write_text(VOC_XML.format(name=name, objects=objects))
    for split, names in splits.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")


def test_voc_reader_boxes_and_labels_exact(tmp_path):
    write_voc(
        tmp_path,
        {
            "a": [("dog", 0, (1, 1, 10, 20)), ("cat", 0, (5, 6, 40, 30)), ("cat", 1, (2, 2, 4, 4))],
            "b": [("cat", 0, (11, 12, 21, 22))],
            "c": [("dog", 0, (3, 4, 13, 14))],
        },
        {"train": ["a"], "val": ["b"], "test": ["c"]},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = read_voc(tmp_path)
    assert any("1 objects marked difficult" in str(w.message) for w in caught)
    # VOC's 1-based inclusive corners -> pixel edges: xmin - 1, ymin - 1, xmax, ymax
    # the difficult object is kept, flagged as an ignore region
    assert splits["train"].boxes == [[[0.0, 0.0, 10.0, 20.0], [4.0, 5.0, 40.0, 30.0], [1.0, 1.0, 4.0, 4.0]]]
    assert splits["train"].names == [["dog", "cat", "cat"]]
    assert splits["train"].ignore == [[False, False, True]]
    assert splits["val"].boxes == [[[10.0, 11.0, 21.0, 22.0]]]
    dm = DetectionDataModule(source="path", path=str(tmp_path), image_size=40)
    dm.setup("fit")
    assert dm.class_names == ["cat", "dog"]
    item = dm.datasets["train"][0]
    assert item["labels"].tolist() == [1, 0]  # training never sees the difficult object
    # 40 x 30 resized to 40 x 40: y scales by 4/3, x unchanged
    assert torch.allclose(item["boxes"], torch.tensor([[0.0, 0.0, 10.0, 80 / 3], [4.0, 20 / 3, 40.0, 40.0]]))
    assert item["orig_size"].tolist() == [30, 40]


def test_coco_reader_boxes_and_labels_exact(tmp_path):
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "annotations").mkdir()
    Image.new("RGB", (50, 40)).save(tmp_path / "images" / "train" / "x.png")
    data = {
        "images": [{"id": 7, "file_name": "x.png", "width": 50, "height": 40}],
        "categories": [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [2, 3, 10, 5], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [20.5, 1, 4, 30], "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 0, 50, 40], "iscrowd": 1},
        ],
    }
    (tmp_path / "annotations" / "instances_train.json").write_text(json.dumps(data))
    splits, categories = read_coco(tmp_path)
    assert categories == ["person", "car"]  # category-id order
    rec = splits["train"]
    assert rec.files == [tmp_path / "images" / "train" / "x.png"]
    # xywh -> xyxy; the crowd annotation kept as an ignore region
    assert rec.boxes == [[[2.0, 3.0, 12.0, 8.0], [20.5, 1.0, 24.5, 31.0], [0.0, 0.0, 50.0, 40.0]]]
    assert rec.names == [["car", "person", "person"]]
    assert rec.ignore == [[False, False, True]]


def test_neither_layout_is_one_line_error(tmp_path):
    dm = DetectionDataModule(source="path", path=str(tmp_path))
    with pytest.raises(DataSourceError, match="neither a Pascal VOC nor a COCO folder"):
        dm.setup("fit")


def test_download_offline_is_one_line_error(monkeypatch):
    monkeypatch.setattr("datamodules.sources.network_available", lambda host, timeout=3.0: False)
    with pytest.raises(DataSourceError, match="cannot download"):
        DetectionDataModule(source="download").resolve()


def test_resize_and_flip_move_boxes_exactly():
    # the report resized the images and not the boxes: both must move together
    image = torch.zeros(3, 100, 200, dtype=torch.uint8)  # H 100, W 200
    image[:, 10:50, 20:60] = 255  # the object fills its box
    boxes = torch.tensor([[20.0, 10.0, 60.0, 50.0]])
    out, new_boxes, labels = BoxTransform(100, flip_p=1.0)(image, boxes, torch.tensor([4]))
    # resize 200 x 100 -> 100 x 100: x halves (10, 10, 30, 50); flip: x -> 100 - x
    assert torch.allclose(new_boxes, torch.tensor([[70.0, 10.0, 90.0, 50.0]]))
    assert labels.tolist() == [4]
    ys, xs = torch.nonzero(out[0] > 127, as_tuple=True)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (70, 90, 10, 50)


def test_degenerate_boxes_dropped_and_counted():
    image = torch.zeros(1, 64, 64, dtype=torch.uint8)
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [30.0, 30.0, 31.0, 50.0], [60.0, 10.0, 90.0, 30.0]])
    ds = DetectionDataset(lambda i: (image, boxes, torch.tensor([1, 2, 3])), 1, BoxTransform(64), min_box_size=2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        item = ds[0]
    assert item["labels"].tolist() == [1, 3]  # the 1 px wide box is dropped; the third is clipped to the image
    assert item["boxes"][1].tolist() == [60.0, 10.0, 64.0, 30.0]
    assert ds.dropped == 1
    assert any("1 boxes dropped" in str(w.message) for w in caught)


def _digits():
    g = torch.Generator().manual_seed(0)
    digits = torch.zeros(30, 28, 28, dtype=torch.uint8)
    for i in range(30):  # a blob of ink at a random place inside the 28 x 28 square
        y, x = torch.randint(2, 14, (2,), generator=g).tolist()
        digits[i, y : y + 12, x : x + 8] = 200
    return digits, torch.arange(30) % 10


def test_canvas_generator_is_deterministic_and_boxes_enclose_the_ink():
    digits, labels = _digits()
    a = make_canvases(digits, labels, 20, size=96, seed=3)
    b = make_canvases(digits, labels, 20, size=96, seed=3)
    c = make_canvases(digits, labels, 20, size=96, seed=4)
    assert torch.equal(a.images, b.images) and all(torch.equal(x, y) for x, y in zip(a.boxes, b.boxes))
    assert not torch.equal(a.images, c.images)
    for img, boxes, labs in zip(a.images, a.boxes, a.labels):
        ink = img[0] > INK_THRESHOLD
        inside = torch.zeros_like(ink)
        assert 1 <= len(boxes) <= 5 and len(labs) == len(boxes)
        for x1, y1, x2, y2 in boxes.long().tolist():
            region = ink[y1:y2, x1:x2]
            # tight: ink on each edge of the box
            assert region[0].any() and region[-1].any() and region[:, 0].any() and region[:, -1].any()
            inside[y1:y2, x1:x2] = True
        assert not (ink & ~inside).any()  # every ink pixel lies in a box


def test_embedded_canvases_use_real_digits_with_their_classes():
    # the report set every label to 1: the canvases carry each digit's own class
    dm = DetectionDataModule(source="embedded", canvases=CanvasOptions(n_train=40, n_val=10, n_test=10))
    dm.setup("fit")
    labels = torch.cat([dm.datasets["train"][i]["labels"] for i in range(40)])
    assert len(labels.unique()) >= 8 and labels.min() >= 0 and labels.max() <= 9
    assert dm.model_info()["num_classes"] == 10


def test_digit_pools_are_disjoint():
    # validation / test canvases are made of digits never seen in training (the report scored training images)
    ranges = {k: (pool, lo, hi if hi is not None else 10**9) for k, (pool, lo, hi) in POOLS.items()}
    for a in ranges:
        for b in ranges:
            if a < b and ranges[a][0] == ranges[b][0]:
                assert ranges[a][2] <= ranges[b][1] or ranges[b][2] <= ranges[a][1], (a, b)
    dm = DetectionDataModule(source="embedded", canvases=CanvasOptions(n_train=5, n_val=5, n_test=5))
    dm.setup("fit")
    train, val = dm.datasets["train"][0]["image"], dm.datasets["val"][0]["image"]
    assert not np.array_equal(train.numpy(), val.numpy())
