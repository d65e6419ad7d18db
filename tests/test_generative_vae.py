"""VAE: the loss against a hand computation, KL annealing, the logged negative ELBO (a Monte-Carlo
estimate with z sampled from q(z|x), also in eval), and the latent-space figure callbacks."""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import callbacks.latent_figures
from callbacks import LatentScatter, LatentTraversal
from callbacks.figures import log_figure
from datamodules import MNISTDataModule
from lab_modules import VAE
from lab_modules.nets import MLPVAE, ConvVAE
from lab_modules.vae import vae_terms
from labcore.errors import LabError


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
    trainer = L.Trainer(
        max_epochs=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
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


def _hand_nelbo(net, x: torch.Tensor, eps: torch.Tensor) -> float:
    """Mean over examples of (1/K) sum_k -log p(x | mu + sigma eps_k) + KL(q || N(0, I)), term by term."""
    mu, logvar = net.encode(x)
    std = (0.5 * logvar).exp()
    nll = 0.0
    for e in eps:  # K draws
        logits = net.decode(mu + e * std)
        log_p = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)  # Bernoulli log-likelihood per pixel
        nll += -log_p.sum().item()
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, std), torch.distributions.Normal(0.0, 1.0))
    return (nll / len(eps) + kl.sum().item()) / x.shape[0]


def _z_mu_nelbo(net, x: torch.Tensor) -> float:
    return _hand_nelbo(net, x, torch.zeros(1, x.shape[0], net.latent_dim))


def test_eval_nelbo_is_a_monte_carlo_estimate_and_converges():
    torch.manual_seed(0)
    model = VAE(MLPVAE(hidden=[32], latent_dim=2)).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        for k in (1, 5):
            torch.manual_seed(7)
            recon, kl, _, _ = model.elbo_terms(x, samples=k)
            torch.manual_seed(7)
            eps = torch.randn(k, 4, 2)
            assert float(recon + kl) == pytest.approx(_hand_nelbo(model.net, x, eps), rel=1e-5)
        at_mu = _z_mu_nelbo(model.net, x)
        single = []
        for seed in range(10):
            torch.manual_seed(seed)
            single.append(float(sum(model.elbo_terms(x, samples=1)[:2])))
        spread = float(np.std(single))
        assert spread > 0.1 and all(abs(v - at_mu) > 1e-3 for v in single)  # sampled z, not z = mu
        many = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            many.append(float(sum(model.elbo_terms(x, samples=2000)[:2])))
        assert abs(many[0] - many[1]) < 0.1 * spread  # the estimate settles as draws are added


def test_logged_val_nelbo_is_the_sampled_elbo_in_eval(tmp_path):
    torch.manual_seed(0)
    model = VAE(MLPVAE(hidden=[32], latent_dim=2), elbo_samples=3)
    dm = MNISTDataModule(source="embedded", normalize=False, batch_size=16, eval_batch_size=16, max_train_samples=32)
    seen = {}

    class Spy(L.Callback):
        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            assert not pl_module.training
            seen.update(rng=torch.get_rng_state(), image=batch["image"].clone())

    trainer = L.Trainer(
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Spy()],
        default_root_dir=tmp_path,
    )
    trainer.validate(model, datamodule=dm, verbose=False)
    logged = float(trainer.callback_metrics["val/nelbo"])
    x = seen["image"]
    torch.set_rng_state(seen["rng"])
    eps = torch.randn(3, x.shape[0], 2)
    with torch.no_grad():
        assert logged == pytest.approx(_hand_nelbo(model.net, x, eps), rel=1e-5)
        assert abs(logged - _z_mu_nelbo(model.net, x)) > 1e-2


def test_elbo_samples_must_be_positive():
    with pytest.raises(LabError, match="elbo_samples"):
        VAE(MLPVAE(), elbo_samples=0)


@pytest.fixture
def drawn(monkeypatch):
    """``{name: figure}`` of every figure the latent callbacks log (the PNG is still written)."""
    figures = {}

    def capture(trainer, fig, name, step=None):
        figures[name] = {
            "images": [im.get_array() for ax in fig.axes for im in ax.get_images()],
            "points": [(np.array(c.get_offsets()), c.get_array()) for ax in fig.axes for c in ax.collections],
        }
        return log_figure(trainer, fig, name, step)

    monkeypatch.setattr(callbacks.latent_figures, "log_figure", capture)
    return figures


def _fit_vae(latent_dim: int, cbs, tmp_path) -> tuple[VAE, MNISTDataModule]:
    torch.manual_seed(0)
    model = VAE(MLPVAE(hidden=[32], latent_dim=latent_dim))
    dm = MNISTDataModule(source="embedded", normalize=False, batch_size=16, eval_batch_size=16, max_train_samples=32)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=3,
        limit_test_batches=1,
        num_sanity_val_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=cbs,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    return model.eval(), dm


def test_latent_traversal_and_scatter_figures(tmp_path, drawn):
    traversal, scatter = LatentTraversal(latent_range=2.0, steps=4), LatentScatter(points=40)
    model, dm = _fit_vae(2, [traversal, scatter], tmp_path)
    assert {
        "val/latent_traversal_epoch000",
        "test/latent_traversal",
        "val/latent_scatter_epoch000",
        "test/latent_scatter",
    } == set(drawn)
    assert (tmp_path / "figures" / "val_latent_traversal_epoch000.png").exists()

    # traversal: a 4 x 4 canvas of decoded images; tile (row i, column j) decodes z = (grid_j, -grid_i)
    canvas = np.asarray(drawn["test/latent_traversal"]["images"][0])
    assert canvas.shape == (4 * 28, 4 * 28)
    with torch.no_grad():
        top_left = model.decode(torch.tensor([[-2.0, 2.0]]))[0, 0]
        bottom_right = model.decode(torch.tensor([[2.0, -2.0]]))[0, 0]
    np.testing.assert_allclose(canvas[:28, :28], top_left.numpy(), atol=1e-6)
    np.testing.assert_allclose(canvas[-28:, -28:], bottom_right.numpy(), atol=1e-6)

    # scatter: the encoder's means of the first 40 validation images (3 batches of 16, cut), coloured by
    # label; the weights have not changed since that validation (it ended the only epoch)
    def means(split: str, n: int) -> tuple[np.ndarray, list[int]]:
        ds = dm.datasets[split]
        with torch.no_grad():
            mu, _ = model.encode(torch.stack([ds[i]["image"] for i in range(n)]))
        return mu.numpy(), [int(ds[i]["label"]) for i in range(n)]

    offsets, colours = drawn["val/latent_scatter_epoch000"]["points"][0]
    mu, labels = means("val", 40)
    np.testing.assert_allclose(offsets, mu, atol=1e-5)
    assert list(colours) == labels
    offsets, colours = drawn["test/latent_scatter"]["points"][0]
    mu, labels = means("test", 16)  # one test batch
    np.testing.assert_allclose(offsets, mu, atol=1e-5)
    assert list(colours) == labels


def test_latent_figures_beyond_two_dimensions(tmp_path, drawn):
    with pytest.warns(UserWarning, match="latent_dim=3, the traversal figure needs 2"):
        model, dm = _fit_vae(3, [LatentTraversal(), LatentScatter(points=20)], tmp_path)
    assert set(drawn) == {"val/latent_scatter_epoch000", "test/latent_scatter"}  # no traversal
    offsets, _ = drawn["val/latent_scatter_epoch000"]["points"][0]
    val = dm.datasets["val"]
    with torch.no_grad():
        mu = model.encode(torch.stack([val[i]["image"] for i in range(20)]))[0].numpy()
    centred = mu - mu.mean(0)
    pcs = np.linalg.svd(centred, full_matrices=False)[2][:2]
    np.testing.assert_allclose(np.abs(offsets), np.abs(centred @ pcs.T), atol=1e-4)  # first two principal axes


def test_latent_figures_need_a_vae(tmp_path):
    from lab_modules import Classifier
    from lab_modules.nets import MLP

    dm = MNISTDataModule(source="embedded", batch_size=16, max_train_samples=16)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[LatentScatter()],
        default_root_dir=tmp_path,
    )
    with pytest.raises(LabError, match="LatentScatter draws a VAE's latent space"):
        trainer.fit(Classifier(MLP(in_features=784, hidden=[8]), num_classes=10), datamodule=dm)
