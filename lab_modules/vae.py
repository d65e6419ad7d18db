"""VAE task (R2-L22): Bernoulli decoder, BCE(sum) + beta * KL, negative ELBO per sample logged."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from callbacks.figures import plt
from labcore.errors import LabError
from lab_modules.optim import build_optimizers
from lab_modules.outputs import write_image_predictions
from lab_modules.shared_step import SharedStep


def vae_terms(logits: Tensor, target: Tensor, mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample means of the reconstruction term ``-log p(x|z)`` (BCE summed over pixels, targets
    in [0, 1]) and of ``KL(q(z|x) || N(0, I))`` (closed form), both in nats."""
    n = target.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    return recon, kl


class VAE(SharedStep, L.LightningModule):
    """Trains ``net`` (``forward(image) -> (logits, mu, logvar)``, e.g. MLPVAE / ConvVAE) on
    ``recon + beta_t * KL`` with targets in [0, 1] (data ``normalize: false``; the report fed
    [-1, 1] targets to BCE).

    Logs ``<stage>/nelbo`` (the negative ELBO per sample, recon + KL with beta 1: comparable with
    the report's 'loss 139.27 per sample'), ``<stage>/recon``, ``<stage>/kl`` and ``<stage>/loss``
    (the optimised objective, with beta_t).

    Args:
        beta: weight of the KL term (beta-VAE; 1 = the plain ELBO).
        kl_warmup_epochs: KL annealing, beta_t rises linearly from 0 to ``beta`` over these epochs.
        traverse_range / traverse_steps: the latent grid of the traversal figure (2-d latents).
    """

    def __init__(self, net: nn.Module, optimizer: OptimizerCallable = torch.optim.Adam,
                 lr_scheduler: LRSchedulerCallable | None = None, beta: float = 1.0, kl_warmup_epochs: int = 0,
                 traverse_range: float = 3.0, traverse_steps: int = 10, scatter_points: int = 2000) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net, self.optimizer, self.lr_scheduler = net, optimizer, lr_scheduler
        self._latents: list[tuple[Tensor, Tensor]] = []

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.net(image)

    def beta_now(self) -> float:
        warm = self.hparams.kl_warmup_epochs
        if not warm or not self.training:
            return self.hparams.beta
        progress = self.global_step / (warm * max(1, self.trainer.num_training_batches))
        return self.hparams.beta * min(1.0, progress)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        x = batch["image"]
        if x.min() < -1e-3 or x.max() > 1 + 1e-3:
            raise LabError("vae: BCE targets must be in [0, 1]; set --data.init_args.normalize false")
        logits, mu, logvar = self(x)
        recon, kl = vae_terms(logits, x, mu, logvar)
        loss = recon + self.beta_now() * kl
        n = x.shape[0]
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, batch_size=n)
        self.log(f"{stage}/nelbo", recon + kl, on_epoch=True, prog_bar=True, batch_size=n)
        self.log_dict({f"{stage}/recon": recon, f"{stage}/kl": kl}, on_epoch=True, batch_size=n)
        if stage != "train" and "label" in batch and sum(len(m) for m, _ in self._latents) < self.hparams.scatter_points:
            self._latents.append((mu.detach().cpu(), batch["label"].cpu()))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._latents = []

    on_test_epoch_start = on_validation_epoch_start

    @torch.no_grad()
    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Reconstructions of the batch and as many samples from the prior (seeded by batch index)."""
        x = batch["image"]
        logits, mu, _ = self(x)
        z = torch.randn(x.shape[0], mu.shape[1], generator=torch.Generator().manual_seed(batch_idx)).to(self.device)
        return {"reconstruction": torch.sigmoid(logits), "samples": torch.sigmoid(self.net.decode(z)), "mu": mu}

    def write_predictions(self, predictions, run_dir, suffix):
        return write_image_predictions(predictions, run_dir, suffix, grid_key="samples")

    # --- figures (callbacks.ImageGrids) --------------------------------------------------------
    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        x = batch["image"]
        logits, mu, _ = self(x)
        out: dict[str, Any] = {"reconstructions": {"input": x, "reconstruction": torch.sigmoid(logits)}}
        if mu.shape[1] == 2:
            out["latent_traversal"] = self._traversal()
        if self._latents:
            out["latent_scatter"] = self._scatter()
        return out

    def _traversal(self) -> Any:
        r, k = self.hparams.traverse_range, self.hparams.traverse_steps
        ticks = torch.linspace(-r, r, k)
        z = torch.stack(torch.meshgrid(ticks, ticks.flip(0), indexing="xy"), -1).reshape(-1, 2).to(self.device)
        imgs = torch.sigmoid(self.net.decode(z)).cpu()  # row i: z2 = +r..-r, column j: z1 = -r..r
        c, h, w = imgs.shape[1:]
        canvas = imgs.view(k, k, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, k * h, k * w)
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.imshow(canvas[0] if c == 1 else canvas.permute(1, 2, 0), cmap="gray", vmin=0, vmax=1,
                  extent=(-r, r, -r, r))
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
        ax.set_title(f"decoder over the latent grid [-{r:g}, {r:g}]^2")
        return fig

    def _scatter(self) -> Any:
        mu = torch.cat([m for m, _ in self._latents])[: self.hparams.scatter_points].numpy()
        y = torch.cat([lbl for _, lbl in self._latents])[: self.hparams.scatter_points].numpy()
        if mu.shape[1] > 2:  # project on the first two principal axes
            mu = mu - mu.mean(0)
            mu = mu @ np.linalg.svd(mu, full_matrices=False)[2][:2].T
        fig, ax = plt.subplots(figsize=(6, 5))
        sc = ax.scatter(mu[:, 0], mu[:, 1], c=y, cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
        fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
        ax.set_xlabel("mu 1")
        ax.set_ylabel("mu 2")
        ax.set_title("latent means by digit")
        return fig

    def configure_optimizers(self) -> Any:
        return build_optimizers(self.parameters(), self.optimizer, self.lr_scheduler, "epoch", "val/nelbo",
                                self.trainer.max_epochs)
