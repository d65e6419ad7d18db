"""Segmentation data: masks stay aligned under joint transforms, splits, folder reading, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules import SegmentationFolderDataModule
from datamodules.segmentation import JointTransform
from labcore.errors import DataSourceError


def _pattern(side: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = (torch.rand(1, side, side, generator=g) * 255).to(torch.uint8)
    return image, (image > 127).to(torch.uint8)


def test_masks_stay_aligned_under_joint_transforms():
    image, mask = _pattern()
    t = JointTransform(crop_size=48, flips=True, rot90=True, elastic_p=0.0)
    torch.manual_seed(0)
    outs = [t(image, mask) for _ in range(20)]
    for img, m in outs:
        assert img.shape == m.shape == (1, 48, 48)
        assert torch.equal(m, (img > 127).to(m.dtype))  # exact: crops, flips and rotations move both alike
    assert len({tuple(img.flatten()[:5].tolist()) for img, _ in outs}) > 5  # and they really are random
    elastic = JointTransform(crop_size=None, flips=False, rot90=False, elastic_p=1.0)
    smooth = torch.zeros(1, 64, 64, dtype=torch.uint8)
    smooth[:, 16:48, 16:48] = 255  # large shapes: bilinear image and nearest mask must agree off the borders
    img, m = elastic(smooth, (smooth > 127).to(torch.uint8))
    assert not torch.equal(img, smooth)
    assert float(((img > 127).to(m.dtype) == m).float().mean()) > 0.97
    assert set(m.unique().tolist()) <= {0, 1}


def test_embedded_split_is_disjoint_and_seeded():
    dm = SegmentationFolderDataModule(source="embedded", crop_size=64)
    dm.setup()
    sizes = {k: len(v.images) for k, v in dm.datasets.items()}
    assert sizes == {"train": 22, "val": 4, "test": 4}
    flat = {k: {tuple(x.flatten()[:64].tolist()) for x in v.images} for k, v in dm.datasets.items()}
    assert not (flat["train"] & flat["val"]) and not (flat["train"] & flat["test"]) and not (flat["val"] & flat["test"])
    again = SegmentationFolderDataModule(source="embedded", split_seed=0)
    again.setup()
    assert torch.equal(again.datasets["test"].images, dm.datasets["test"].images)
    item = dm.datasets["train"][0]
    assert item["image"].shape == item["mask"].shape == (1, 64, 64)
    val = dm.datasets["val"][0]
    assert val["image"].shape == (1, 192, 192) and set(val["mask"].unique().tolist()) <= {0.0, 1.0}


def test_path_folder_pairs_and_errors(tmp_path):
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(8):
        arr = np.zeros((40, 40), np.uint8)
        arr[: 5 * i, :] = 255
        Image.fromarray(arr).save(tmp_path / "images" / f"s{i}.png")
        Image.fromarray(arr).save(tmp_path / "masks" / f"s{i}.png")
    dm = SegmentationFolderDataModule(path=str(tmp_path), image_size=32, val_fraction=0.25, test_fraction=0.25)
    dm.setup()
    ds = dm.datasets["test"]
    assert torch.equal(ds.masks, (ds.images > 127).to(torch.uint8))  # each mask read with its own image
    with pytest.raises(DataSourceError, match="image/ and label/"):
        SegmentationFolderDataModule(path=str(tmp_path / "images")).setup()
    with pytest.raises(DataSourceError, match="crop_size"):
        SegmentationFolderDataModule(path=str(tmp_path), crop_size=64).setup()
