"""Segmentation model: UNet shapes, tiled full-image inference, Dice/IoU actually computed."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from datamodules import SegmentationFolderDataModule
from lab_modules import Segmenter
from lab_modules.nets import UNet
from lab_modules.tiling import padded_call, sliding_window


def test_unet_shapes_and_errors():
    net = UNet(in_channels=1, out_channels=1, depth=3, base=4)
    assert net(torch.rand(2, 1, 48, 64)).shape == (2, 1, 48, 64)
    with pytest.raises(ValueError, match="divisible by 8"):
        net(torch.rand(1, 1, 30, 30))


def test_sliding_window_matches_whole_image_for_a_pointwise_net():
    net = nn.Conv2d(1, 1, 1)
    x = torch.rand(1, 1, 100, 75)
    with torch.no_grad():
        torch.testing.assert_close(sliding_window(net, x, tile=32, overlap=8, multiple=1), net(x))
        torch.testing.assert_close(padded_call(net, x, 32), net(x))


def test_segmenter_logs_consistent_dice_and_iou(tmp_path):
    L.seed_everything(0)
    model = Segmenter(UNet(in_channels=1, depth=2, base=8), tile_size=96, tile_overlap=16)
    dm = SegmentationFolderDataModule(source="embedded", crop_size=64, batch_size=4, repeats=1)
    trainer = L.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    out = trainer.test(model, datamodule=dm, verbose=False)[0]
    dice, iou = out["test/dice"], out["test/iou"]
    assert 0 < iou < dice < 1
    assert iou == pytest.approx(dice / (2 - dice), rel=1e-4)  # both over the same pixels: J = D / (2 - D)
    assert dice > 0.8  # 78 % of the pixels are cell interior; even a short run finds most of them
