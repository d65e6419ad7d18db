"""GAN task: non-saturating BCE GAN with Lightning manual optimisation, MNIST-FID."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn

from lab_modules.fid import load_feature_net, mnist_fid
from lab_modules.optim import make_optimizer
from lab_modules.task import LabTask
from labcore.errors import LabError


def _adam(params, lr: float = 2e-4) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))


class GAN(LabTask):
    """Trains ``generator`` (z -> images in [-1, 1]) against ``discriminator`` (images -> logit).

    Per batch: one discriminator step on BCE(real -> 1, fake -> 0), then one generator step on
    the non-saturating loss BCE(D(G(z)) -> 1), each with its own optimizer (Adam 2e-4, betas
    (0.5, 0.999) unless configured). The data must be in [0, 1] (``normalize: false``); the module
    maps it to [-1, 1].

    Validation/test: MNIST-FID (``val/fid_mnist``, ``test/fid_mnist``) between the split's real
    images and as many generated ones, in the feature space of ``fid_classifier`` (a checkpoint of
    ``configs/labs/generative/mnist_fid_cnn.yaml``; None = the shipped one). NOT Inception FID.

    Args:
        real_label: target for real images in the D loss (e.g. 0.9 for one-sided label smoothing).
        n_fixed: size of the fixed noise batch drawn for the sample grids (saved in the checkpoint).
        fid: compute MNIST-FID (needs 1 x 28 x 28 images); it is then the monitored metric
            (``val/fid_mnist``, lower is better), without it nothing ranks checkpoints.
    """

    monitor_mode = "min"
    prediction_kind = "images"
    ddp_find_unused_parameters = True  # the discriminator step never reaches the generator
    prediction_grid_key = "samples"

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        real_label: float = 1.0,
        n_fixed: int = 64,
        fid: bool = True,
        fid_classifier: str | None = None,
        input_shape: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim = int(getattr(generator, "latent_dim", 100))
        self.optimizer_g, self.optimizer_d = optimizer_g or _adam, optimizer_d or _adam
        noise = torch.randn(n_fixed, self.latent_dim, generator=torch.Generator().manual_seed(0))
        self.register_buffer("fixed_noise", noise)
        if fid and input_shape is not None and list(input_shape) != [1, 28, 28]:
            raise LabError(
                f"gan: MNIST-FID needs 1x28x28 images, the data has {input_shape}; pass --model.init_args.fid false"
            )
        self.val_fid = mnist_fid(load_feature_net(fid_classifier)) if fid else None
        self.test_fid = mnist_fid(load_feature_net(fid_classifier)) if fid else None

    @property
    def monitor(self) -> str | None:  # type: ignore[override]
        return "val/fid_mnist" if self.hparams.fid else None

    def forward(self, z: Tensor) -> Tensor:
        """Generated images in [0, 1]."""
        return (self.generator(z) + 1) / 2

    def _noise(self, n: int, seed: int | None = None) -> Tensor:
        if seed is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)

    @staticmethod
    def _real(batch: dict[str, Tensor]) -> Tensor:
        x = batch["image"]
        if x.min() < -1e-3 or x.max() > 1 + 1e-3:
            raise LabError("gan: images must be in [0, 1]; set --data.init_args.normalize false")
        return x

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real = self._real(batch) * 2 - 1
        n = real.shape[0]
        fake = self.generator(self._noise(n))

        d_real, d_fake = self.discriminator(real), self.discriminator(fake.detach())
        loss_d = 0.5 * (
            F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.hparams.real_label))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        )
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()

        d_gen = self.discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))  # non-saturating
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()

        self.log_dict(
            {"train/d_loss": loss_d, "train/g_loss": loss_g}, on_step=True, on_epoch=True, prog_bar=True, batch_size=n
        )
        self.log_dict(
            {"train/d_real": torch.sigmoid(d_real).mean(), "train/d_fake": torch.sigmoid(d_fake).mean()},
            on_step=False,
            on_epoch=True,
            batch_size=n,
        )

    def _fid_step(self, batch: dict[str, Tensor], batch_idx: int, metric, name: str) -> None:
        if metric is None:
            return
        real = self._real(batch)
        metric.update(real, real=True)
        metric.update(self(self._noise(real.shape[0], seed=10_000 + batch_idx)), real=False)
        self.log(name, metric, on_step=False, on_epoch=True, prog_bar=True)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._fid_step(batch, batch_idx, self.val_fid, "val/fid_mnist")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._fid_step(batch, batch_idx, self.test_fid, "test/fid_mnist")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """As many samples as the batch has images, from noise seeded by the batch index."""
        n = len(next(iter(batch.values())))
        return {"samples": self(self._noise(n, seed=batch_idx))}

    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        return {"samples": self(self.fixed_noise)}

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            make_optimizer(self.optimizer_g, self.generator.parameters()),
            make_optimizer(self.optimizer_d, self.discriminator.parameters()),
        ]
