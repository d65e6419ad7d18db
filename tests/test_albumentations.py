"""albumentations pipelines: named options or A.save files, moving masks and boxes with the image."""

from __future__ import annotations

import albumentations as A
import pytest
import torch

from datamodules.albumentations_pipeline import AlbumentationsJoint, pipeline_transforms
from datamodules.digit_canvases import INK_THRESHOLD
from labcore.errors import LabError


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_pipeline_file_moves_mask_and_boxes(tmp_path, fmt):
    path = tmp_path / f"flip.{fmt}"
    A.save(A.Compose([A.HorizontalFlip(p=1.0)]), str(path), data_format=fmt)
    image = torch.zeros(3, 80, 100, dtype=torch.uint8)  # H 80, W 100
    image[:, 20:40, 10:30] = 255
    mask = (image[:1] > 0).to(torch.uint8)
    out_img, out_mask = AlbumentationsJoint(str(path))(image, mask)
    assert torch.equal(out_mask[0].bool(), out_img[0] > 0)  # mask still on the object
    assert out_mask[0, 20:40, 70:90].all() and out_mask.sum() == 400
    boxes = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    img2, new_boxes, labels, dropped = AlbumentationsJoint(str(path), with_boxes=True).boxes(
        image, boxes, torch.tensor([3])
    )
    assert new_boxes.tolist() == [[70.0, 20.0, 90.0, 40.0]] and labels.tolist() == [3] and dropped == 0
    assert torch.equal(img2, out_img)


def test_boxes_cropped_away_are_counted():
    pipe = AlbumentationsJoint([], with_boxes=True, min_box_size=2.0, prepend=[A.Crop(0, 0, 50, 50)])
    image = torch.zeros(3, 100, 100, dtype=torch.uint8)
    boxes = torch.tensor([[10.0, 10.0, 30.0, 30.0], [60.0, 60.0, 90.0, 90.0], [49.0, 10.0, 80.0, 20.0]])
    _, new_boxes, labels, dropped = pipe.boxes(image, boxes, torch.tensor([1, 2, 3]))
    assert labels.tolist() == [1] and dropped == 2  # outside the crop; clipped to 1 px wide


def test_named_options_and_errors():
    names = [type(t).__name__ for t in pipeline_transforms("hflip,elastic,grid")]
    assert names == ["HorizontalFlip", "ElasticTransform", "GridDistortion"]
    with pytest.raises(LabError, match="unknown option"):
        pipeline_transforms("hflip,swirl")
    with pytest.raises(LabError, match="not found"):
        pipeline_transforms("nowhere/pipeline.yaml")


def test_shipped_unet_pipeline_keeps_image_and_mask_aligned():
    pipe = AlbumentationsJoint("configs/augment/unet_elastic.yaml")
    names = {type(t).__name__ for t in pipe.compose.transforms}
    assert {"ElasticTransform", "GridDistortion", "RandomRotate90"} <= names
    torch.manual_seed(0)
    mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
    mask[:, 16:48, 8:40] = 1
    image = mask * 255
    for _ in range(5):
        out_img, out_mask = pipe(image, mask)
        assert set(out_mask.unique().tolist()) <= {0, 1}
        agree = ((out_img[0] > 127) == out_mask[0].bool()).float().mean()
        assert agree > 0.97


def test_segmentation_datamodule_uses_the_pipeline():
    from datamodules.segmentation import SegmentationFolderDataModule

    dm = SegmentationFolderDataModule(source="embedded", crop_size=64, augment="configs/augment/unet_elastic.yaml")
    dm.setup("fit")
    assert isinstance(dm.transform, AlbumentationsJoint)
    item = dm.datasets["train"][0]
    assert item["image"].shape == (1, 64, 64) and item["mask"].shape == (1, 64, 64)


def test_detection_datamodule_pipeline_moves_boxes_with_the_digits():
    from datamodules.detection import CanvasOptions, DetectionDataModule

    dm = DetectionDataModule(
        source="embedded", canvases=CanvasOptions(n_train=12, n_val=2, n_test=2), augment="hflip,vflip,affine"
    )
    dm.setup("fit")
    for i in range(12):
        item = dm.datasets["train"][i]
        ink = item["image"][0] * 255 > INK_THRESHOLD + 40  # interpolation blurs the faint edge
        inside = torch.zeros_like(ink)
        for x1, y1, x2, y2 in item["boxes"].tolist():
            inside[int(y1) : int(y2) + 1, int(x1) : int(x2) + 1] = True
        assert not (ink & ~inside).any()
