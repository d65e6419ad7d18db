"""VAE: the loss against a hand computation, KL annealing, the logged negative ELBO."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from datamodules import MNISTDataModule
from lab_modules import VAE
from lab_modules.nets import ConvVAE, MLPVAE
from lab_modules.vae import vae_terms


def test_vae_terms_match_hand_computation():
    logits = torch.tensor([[[[0.0, 2.0]]], [[[-1.0, 0.5]]]])  # 2 images of 1 x 1 x 2 pixels
    target = torch.tensor([[[[1.0, 0.0]]], [[[0.25, 1.0]]]])
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    bce = 0.0
    for lg, t in zip(logits.flatten().tolist(), target.flatten().tolist()):
        p = sig(lg)
        bce += -(t * math.log(p) + (1 - t) * math.log(1 - p))
    kl = 0.0
    for m_row, lv_row in zip(mu.tolist(), logvar.tolist()):
        for m, lv in zip(m_row, lv_row):
            var = math.exp(lv)
            kl += 0.5 * (var + m * m - 1 - math.log(var))
    recon, kl_t = vae_terms(logits, target, mu, logvar)
    assert float(recon) == pytest.approx(bce / 2, rel=1e-6)
    assert float(kl_t) == pytest.approx(kl / 2, rel=1e-6)


def test_vae_shapes_and_sampling_modes():
    for net in (MLPVAE(latent_dim=2), ConvVAE(latent_dim=3, channels=[8, 16], hidden=32)):
        x = torch.rand(5, 1, 28, 28)
        net.train()
        a, mu, logvar = net(x)
        b, _, _ = net(x)
        assert a.shape == x.shape and mu.shape == logvar.shape == (5, net.latent_dim)
        assert not torch.equal(a, b)  # training: z is sampled
        net.eval()
        torch.testing.assert_close(net(x)[0], net(x)[0])  # eval: z = mu


def test_vae_logs_nelbo_and_kl_warmup(tmp_path):
    model = VAE(MLPVAE(hidden=[64, 32]), kl_warmup_epochs=2, beta=1.0)
    dm = MNISTDataModule(source="embedded", normalize=False, batch_size=64, eval_batch_size=500, max_train_samples=256)
    trainer = L.Trainer(max_epochs=2, limit_val_batches=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        default_root_dir=tmp_path)
    seen = []

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(pl_module.beta_now())

    trainer.callbacks.append(Spy())
    trainer.fit(model, datamodule=dm)
    assert seen[0] == 0.0 and 0 < seen[4] < 1 and seen == sorted(seen) and seen[-1] < 1.0
    m = trainer.callback_metrics
    assert float(m["val/nelbo"]) == pytest.approx(float(m["val/recon"]) + float(m["val/kl"]), rel=1e-5)
    assert 0 < float(m["val/nelbo"]) < 784 * math.log(2) * 1.5  # below a uniform-guess decoder's order of magnitude
    model.eval()
    assert model.beta_now() == 1.0
