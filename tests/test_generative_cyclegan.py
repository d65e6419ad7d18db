"""CycleGAN: unpaired embedded domains with a known mapping, replay buffer, LR schedule, manual steps."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from datamodules import UnpairedImageDataModule
from lab_modules import CycleGAN
from lab_modules.cyclegan import LinearDecay
from lab_modules.image_pool import ImagePool
from lab_modules.nets import PatchDiscriminator, ResnetGenerator
from labcore.errors import DataSourceError


def test_embedded_domains_are_disjoint_and_targets_exact(tmp_path):
    dm = UnpairedImageDataModule(source="embedded", max_train_samples=None, flip=True)
    dm.setup()
    train = dm.datasets["train"]
    a = train.a.flatten(1).float()
    b_as_a = (255 - train.b).flatten(1).float()  # un-invert B: if any pair shared a source image it would match
    dist = torch.cdist(a[:500], b_as_a)
    assert float(dist.min()) > 0, "A and B share a source image"
    assert float(b_as_a.mean()) < 128 < float(train.b.float().mean())  # B really is inverted
    item = train[3]
    torch.testing.assert_close(item["target_ab"], -item["image_a"])  # exact even after a random flip
    assert item["image_a"].min() >= -1 and item["image_a"].max() <= 1
    assert dm.model_info() == {"in_channels": 1, "input_shape": [1, 28, 28]}
    with pytest.raises(DataSourceError, match="trainA"):
        UnpairedImageDataModule(source="path", path=str(tmp_path)).setup()  # a folder without trainA/ ...


def test_folder_layout(tmp_path):
    from PIL import Image

    for split in ("trainA", "trainB", "testA", "testB"):
        (tmp_path / split).mkdir()
        for i in range(4):
            Image.new("RGB", (40, 30), (i * 40, 0, 200)).save(tmp_path / split / f"{i}.png")
    dm = UnpairedImageDataModule(path=str(tmp_path), image_size=32, val_fraction=0.25)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image_a"].shape == (1, 3, 32, 32) and "target_ab" not in batch
    assert len(dm.datasets["val"]) == 1 and len(dm.datasets["test"]) == 4


def test_image_pool():
    pool = ImagePool(size=3)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    torch.testing.assert_close(pool.query(first), first)  # filling: returns what it stores
    torch.manual_seed(0)
    outs = torch.cat([pool.query(torch.full((1, 1, 1, 1), 10.0 + i)) for i in range(40)])
    assert len(pool.images) == 3
    old = outs.flatten() < 10
    assert 0 < int(old.sum()) < 40  # some queries answered from history, some with the new image
    assert ImagePool(0).query(first) is first


def test_linear_decay():
    f = LinearDecay(n_constant=3, n_decay=3)
    assert [round(f(e), 3) for e in range(6)] == [1.0, 1.0, 1.0, 1.0, 0.75, 0.5]


def test_manual_steps_update_both_generators_and_discriminators():
    model = CycleGAN(
        ResnetGenerator(in_channels=1, ngf=8, n_blocks=1), PatchDiscriminator(in_channels=1, ndf=8, n_layers=2)
    )
    assert not torch.equal(model.g_ab.layers[1].weight, model.g_ba.layers[1].weight)  # independent initialisations
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    dm = UnpairedImageDataModule(source="embedded", batch_size=2, eval_batch_size=8, max_train_samples=16)
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    for prefix in ("g_ab", "g_ba", "d_a", "d_b"):
        assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if n.startswith(prefix)), prefix
    opt_g, opt_d = model.optimizers()
    assert trainer.global_step == 8
    assert opt_g.optimizer.param_groups[0]["lr"] == pytest.approx(2e-4 * LinearDecay(1, 1)(2))
    m = trainer.callback_metrics
    assert {"val/psnr", "val/psnr_ab", "val/l1_ba", "val/cycle_l1"} <= set(m)
    assert float(m["val/psnr"]) == pytest.approx((float(m["val/psnr_ab"]) + float(m["val/psnr_ba"])) / 2, rel=1e-5)
