"""VAE task: Bernoulli decoder, BCE(sum) + beta * KL, the negative ELBO per sample logged."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lab_modules.optim import build_optimizers
from lab_modules.shared_step import SharedStep
from lab_modules.task import LabTask, batch_mean
from labcore.errors import LabError


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` in closed form, mean over the rows, in nats."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]


def vae_terms(logits: Tensor, target: Tensor, mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample means of the reconstruction term ``-log p(x|z)`` (BCE summed over pixels, targets
    in [0, 1]) and of ``KL(q(z|x) || N(0, I))`` (closed form), both in nats."""
    recon = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / target.shape[0]
    return recon, gaussian_kl(mu, logvar)


class VAE(SharedStep, LabTask):
    """Trains ``net`` (``encode(image) -> (mu, logvar)``, ``decode(z) -> logits``, ``latent_dim``; e.g.
    MLPVAE / ConvVAE) on ``recon + beta_t * KL`` with targets in [0, 1] (data ``normalize: false``;
    the report fed [-1, 1] targets to BCE).

    Logs ``<stage>/nelbo``: the negative ELBO per sample in nats, ``E_q(z|x)[-log p(x|z)] + KL(q(z|x)
    || N(0, I))`` with beta 1 (comparable with the report's 'loss 139.27 per sample'). Its
    reconstruction term ``<stage>/recon`` is a Monte-Carlo estimate with z SAMPLED from q(z|x)
    (reparameterised), averaged over ``elbo_samples`` draws per example in validation and test (one
    draw in training, the usual gradient estimator), also in eval mode: decoding z = mu instead
    would not be the ELBO. ``<stage>/kl`` is the closed-form KL, ``<stage>/loss`` the optimised
    objective (with beta_t).

    Figures (``callbacks.LatentTraversal``, ``callbacks.LatentScatter``) read ``encode``,
    ``decode`` and ``latent_dim``; ``figure_batches`` gives inputs and reconstructions to
    ``callbacks.ImageGrids``. Predictions: ``reconstruction``, ``samples`` (from the prior,
    seeded by the batch index) and ``mu``.

    Args:
        beta: weight of the KL term (beta-VAE; 1 = the plain ELBO).
        kl_warmup_epochs: KL annealing, beta_t rises linearly from 0 to ``beta`` over these epochs.
        elbo_samples: draws of z per example for the validation/test negative ELBO (more: less noise).
    """

    monitor = "val/nelbo"
    monitor_mode = "min"
    prediction_kind = "images"
    prediction_grid_key = "samples"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        beta: float = 1.0,
        kl_warmup_epochs: int = 0,
        elbo_samples: int = 1,
    ) -> None:
        super().__init__()
        if elbo_samples < 1:
            raise LabError(f"vae: elbo_samples={elbo_samples}; pass --model.init_args.elbo_samples 1 or more")
        self.save_hyperparameters(ignore=["net"])
        self.net, self.optimizer, self.lr_scheduler = net, optimizer, lr_scheduler
        # training-side epoch means (batch-size weighted), logged at the epoch's end
        self.train_means = nn.ModuleDict({k: batch_mean() for k in ("loss", "nelbo", "recon", "kl")})
        self._checked_range = False

    @property
    def latent_dim(self) -> int:
        return int(self.net.latent_dim)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The net's ``(logits, mu, logvar)`` (in eval mode the logits decode z = mu)."""
        return self.net(image)

    def encode(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of q(z|x), each N x latent_dim."""
        return self.net.encode(image)

    def decode(self, z: Tensor) -> Tensor:
        """Bernoulli means (images in [0, 1]) of p(x|z) for latents z (N x latent_dim)."""
        return torch.sigmoid(self.net.decode(z))

    def elbo_terms(self, image: Tensor, samples: int = 1) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(recon, kl, mu, logvar)``: ``recon`` the mean over examples and over ``samples`` draws
        z = mu + sigma * eps (eps ~ N(0, I), drawn at once as samples x N x latent_dim from the
        default generator) of ``-log p(x|z)``; ``kl`` the closed-form KL per example."""
        mu, logvar = self.net.encode(image)
        eps = torch.randn(samples, *mu.shape, device=mu.device, dtype=mu.dtype)
        z = (mu + eps * (0.5 * logvar).exp()).flatten(0, 1)  # sample-major: draw k of example i at k * N + i
        logits = self.net.decode(z)
        target = image.expand(samples, *image.shape).flatten(0, 1)
        recon = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / z.shape[0]
        return recon, gaussian_kl(mu, logvar), mu, logvar

    def beta_now(self) -> float:
        warm = self.hparams.kl_warmup_epochs
        if not warm or not self.training:
            return self.hparams.beta
        progress = self.global_step / (warm * max(1, self.trainer.num_training_batches))
        return self.hparams.beta * min(1.0, progress)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        x = batch["image"]
        if not self._checked_range or stage != "train":  # each check is a host sync: once for training
            if x.min() < -1e-3 or x.max() > 1 + 1e-3:
                raise LabError("vae: BCE targets must be in [0, 1]; set --data.init_args.normalize false")
            self._checked_range = self._checked_range or stage == "train"
        recon, kl, _, _ = self.elbo_terms(x, 1 if stage == "train" else self.hparams.elbo_samples)
        loss = recon + self.beta_now() * kl
        n = x.shape[0]
        if stage == "train":
            for name, value in (("loss", loss), ("nelbo", recon + kl), ("recon", recon), ("kl", kl)):
                self.train_means[name].update(value.detach(), weight=n)
            self.log_step("train/loss_step", loss.detach(), prog_bar=True)
            return loss
        # val/nelbo picks the best checkpoint: the mean over every rank's examples
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=n, sync_dist=True)
        self.log(f"{stage}/nelbo", recon + kl, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log_dict({f"{stage}/recon": recon, f"{stage}/kl": kl}, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def on_train_epoch_end(self) -> None:
        # metric objects: Lightning computes them (over every rank) after this hook and resets them
        self.log_dict({f"train/{k}": m for k, m in self.train_means.items()})

    @torch.no_grad()
    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Reconstructions of the batch (z = mu) and as many samples from the prior (seeded by batch index)."""
        x = batch["image"]
        mu, _ = self.encode(x)
        z = torch.randn(x.shape[0], mu.shape[1], generator=torch.Generator().manual_seed(batch_idx)).to(self.device)
        return {"reconstruction": self.decode(mu), "samples": self.decode(z), "mu": mu}

    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        x = batch["image"]
        mu, _ = self.encode(x)
        return {"reconstructions": {"input": x, "reconstruction": self.decode(mu)}}

    def configure_optimizers(self) -> Any:
        return build_optimizers(
            self.parameters(), self.optimizer, self.lr_scheduler, "epoch", "val/nelbo", self.trainer.max_epochs
        )
