"""Denoising data: fresh noise per access for training, fixed seeded noise for val/test; a short
seeded run beats the noisy input's PSNR."""

from __future__ import annotations

import lightning as L
import torch

from datamodules import NoisyMNISTDataModule
from datamodules.noise import GaussianNoise
from lab_modules import DenoisingAutoencoder
from lab_modules.nets import ConvAutoencoder


def _dm(**kw):
    dm = NoisyMNISTDataModule(source="embedded", batch_size=64, eval_batch_size=500, **kw)
    dm.setup()
    return dm


def test_noise_fresh_in_training_fixed_in_val_and_test():
    dm = _dm()
    train = dm.datasets["train"]
    a, b = train.__getitems__([0, 1, 2]), train.__getitems__([0, 1, 2])
    torch.testing.assert_close(a["image"], b["image"])
    assert not torch.equal(a["noisy"], b["noisy"])  # a new draw at every access
    for split in ("val", "test"):
        ds = dm.datasets[split]
        torch.testing.assert_close(ds.__getitems__([3, 4])["noisy"], ds.__getitems__([3, 4])["noisy"])
        other = _dm().datasets[split]  # another instance (another run): the same noisy images
        torch.testing.assert_close(ds.__getitems__([3, 4])["noisy"], other.__getitems__([3, 4])["noisy"])
    assert not torch.equal(dm.datasets["val"].fixed[:5], _dm(noise_seed=7).datasets["val"].fixed[:5])
    x = a["noisy"]
    assert x.min() >= 0 and x.max() <= 1 and a["image"].min() >= 0 and a["image"].max() <= 1


def test_gaussian_noise_statistics():
    x = torch.full((1, 1, 200, 200), 0.5)
    y = GaussianNoise(sigma=0.1)(x, generator=torch.Generator().manual_seed(0))
    assert abs(float((y - x).std()) - 0.1) < 0.005
    z = GaussianNoise(sigma=0.5)(torch.zeros(1, 1, 100, 100))
    assert z.min() == 0 and float((z == 0).float().mean()) > 0.45  # clamped at 0


def test_short_run_beats_the_noisy_input():
    L.seed_everything(0)
    dm = NoisyMNISTDataModule(source="embedded", batch_size=32, eval_batch_size=500)
    model = DenoisingAutoencoder(
        ConvAutoencoder(channels=[16, 8]),  # the report's net
        optimizer=lambda p: torch.optim.Adam(p, lr=3e-3),
    )
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=dm)
    out = trainer.test(model, datamodule=dm, verbose=False)[0]
    assert out["test/psnr"] > out["test/psnr_noisy"] + 5.0  # about 17.5 vs 9.4 dB
    assert out["test/ssim"] > out["test/ssim_noisy"] + 0.3
