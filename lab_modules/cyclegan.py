"""CycleGAN task: two generators, two PatchGAN discriminators, LSGAN + cycle + identity."""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics.image import PeakSignalNoiseRatio

from lab_modules.image_pool import ImagePool
from lab_modules.nets.cyclegan import normal_init
from lab_modules.optim import make_optimizer
from lab_modules.task import LabTask


def _adam(params) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


class LinearDecay:
    """LambdaLR factor: 1 for ``n_constant`` epochs, then linearly to ~0 over ``n_decay`` epochs."""

    def __init__(self, n_constant: int, n_decay: int) -> None:
        self.n_constant, self.n_decay = n_constant, n_decay

    def __call__(self, epoch: int) -> float:
        return 1.0 - max(0, epoch - self.n_constant) / float(self.n_decay + 1)


def _fresh_copy(net: nn.Module) -> nn.Module:
    """A second net of the same architecture with its own N(0, 0.02) initialisation."""
    twin = copy.deepcopy(net)
    for m in twin.modules():
        if m is not twin and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    normal_init(twin)
    return twin


def _01(x: Tensor) -> Tensor:
    return (x + 1) / 2


class CycleGAN(LabTask):
    """``G_AB``, ``G_BA`` (the injected ``generator`` and an independently initialised copy) and
    ``D_A``, ``D_B`` (likewise from ``discriminator``). Per batch, manual optimisation: one step
    of both generators on LSGAN + ``lambda_cycle`` x cycle L1 + ``lambda_identity`` x identity L1,
    then one step of both discriminators on LSGAN (halved) with fakes drawn through a replay buffer
    of ``pool_size`` images. Learning rates: constant for ``n_epochs_constant`` epochs, then linear
    decay to 0 over ``n_epochs_decay`` (defaults: half of ``max_epochs`` each).

    Validation/test: ``<stage>/cycle_l1`` always; with a known true mapping in the batch
    (``target_ab``, ``target_ba``), ``<stage>/l1_ab``, ``psnr_ab``, ``l1_ba``, ``psnr_ba`` and their
    mean ``<stage>/psnr`` (images in [0, 1]). No metric ranks checkpoints (the last one is kept,
    as in the paper). Predictions: ``fake_b`` = G_AB(A) and ``fake_a`` = G_BA(B), in [0, 1].
    """

    monitor = None
    prediction_kind = "images"
    ddp_find_unused_parameters = True  # each optimizer step leaves the other networks out
    prediction_grid_key = "fake_b"

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 5.0,
        pool_size: int = 50,
        n_epochs_constant: int | None = None,
        n_epochs_decay: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.automatic_optimization = False
        self.g_ab, self.g_ba = generator, _fresh_copy(generator)
        self.d_a, self.d_b = discriminator, _fresh_copy(discriminator)
        self.optimizer_g, self.optimizer_d = optimizer_g or _adam, optimizer_d or _adam
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)
        self.psnr = nn.ModuleDict(
            {f"{s}_{d}": PeakSignalNoiseRatio(data_range=1.0) for s in ("val", "test") for d in ("ab", "ba")}
        )

    def forward(self, image_a: Tensor) -> Tensor:
        """A -> B translation, images in [-1, 1]."""
        return self.g_ab(image_a)

    @staticmethod
    def _lsgan(pred: Tensor, real: bool) -> Tensor:
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real_a, real_b = batch["image_a"], batch["image_b"]
        hp = self.hparams

        self.toggle_optimizer(opt_g)  # D parameters need no gradients for the G step
        fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
        loss_gan = self._lsgan(self.d_b(fake_b), True) + self._lsgan(self.d_a(fake_a), True)
        loss_cycle = F.l1_loss(self.g_ba(fake_b), real_a) + F.l1_loss(self.g_ab(fake_a), real_b)
        loss_idt = (
            (F.l1_loss(self.g_ba(real_a), real_a) + F.l1_loss(self.g_ab(real_b), real_b))
            if hp.lambda_identity
            else real_a.new_zeros(())
        )
        loss_g = loss_gan + hp.lambda_cycle * loss_cycle + hp.lambda_identity * loss_idt
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        self.toggle_optimizer(opt_d)
        pool_b, pool_a = self.pool_b.query(fake_b.detach()), self.pool_a.query(fake_a.detach())
        loss_d_b = 0.5 * (self._lsgan(self.d_b(real_b), True) + self._lsgan(self.d_b(pool_b), False))
        loss_d_a = 0.5 * (self._lsgan(self.d_a(real_a), True) + self._lsgan(self.d_a(pool_a), False))
        loss_d = loss_d_a + loss_d_b
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        n = real_a.shape[0]
        self.log_dict(
            {"train/g_loss": loss_g, "train/d_loss": loss_d}, on_step=True, on_epoch=True, prog_bar=True, batch_size=n
        )
        self.log_dict(
            {"train/g_gan": loss_gan, "train/cycle_l1": loss_cycle, "train/identity_l1": loss_idt},
            on_step=False,
            on_epoch=True,
            batch_size=n,
        )

    def on_train_epoch_end(self) -> None:
        for sched in self.lr_schedulers():
            sched.step()

    def _eval_step(self, batch: dict[str, Tensor], stage: str) -> None:
        real_a, real_b = batch["image_a"], batch["image_b"]
        fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
        n = real_a.shape[0]
        cycle = 0.5 * (F.l1_loss(self.g_ba(fake_b), real_a) + F.l1_loss(self.g_ab(fake_a), real_b))
        self.log(f"{stage}/cycle_l1", cycle, on_epoch=True, batch_size=n, sync_dist=True)  # over every rank
        if "target_ab" not in batch:
            return
        for d, fake, target in (("ab", fake_b, batch["target_ab"]), ("ba", fake_a, batch["target_ba"])):
            metric = self.psnr[f"{stage}_{d}"]
            metric.update(_01(fake), _01(target))
            self.log(f"{stage}/psnr_{d}", metric, on_epoch=True, batch_size=n)
            l1 = F.l1_loss(_01(fake), _01(target))
            self.log(f"{stage}/l1_{d}", l1, on_epoch=True, batch_size=n, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_mean("val")

    def on_test_epoch_end(self) -> None:
        self._log_mean("test")

    def _log_mean(self, stage: str) -> None:
        ab, ba = self.psnr[f"{stage}_ab"], self.psnr[f"{stage}_ba"]
        if ab.update_called and ba.update_called:
            self.log(f"{stage}/psnr", (ab.compute() + ba.compute()) / 2, prog_bar=True)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        return {"fake_b": _01(self.g_ab(batch["image_a"])), "fake_a": _01(self.g_ba(batch["image_b"]))}

    def figure_batches(self, batch: dict[str, Tensor], stage: str) -> dict[str, Any]:
        out = {}
        for src, (g, g_back, key, tkey) in {
            "a_to_b_to_a": (self.g_ab, self.g_ba, "image_a", "target_ab"),
            "b_to_a_to_b": (self.g_ba, self.g_ab, "image_b", "target_ba"),
        }.items():
            x = batch[key]
            fake = g(x)
            a, b = ("A", "B") if key == "image_a" else ("B", "A")
            rows = {a: _01(x), f"G({a})->{b}": _01(fake), f"back to {a}": _01(g_back(fake))}
            if tkey in batch:
                rows[f"true {b}"] = _01(batch[tkey])
            out[src] = rows
        return out

    def configure_optimizers(self) -> Any:
        opt_g = make_optimizer(self.optimizer_g, list(self.g_ab.parameters()) + list(self.g_ba.parameters()))
        opt_d = make_optimizer(self.optimizer_d, list(self.d_a.parameters()) + list(self.d_b.parameters()))
        total = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 200
        n_const = self.hparams.n_epochs_constant if self.hparams.n_epochs_constant is not None else total // 2
        n_decay = self.hparams.n_epochs_decay if self.hparams.n_epochs_decay is not None else total - n_const
        decay = LinearDecay(n_const, n_decay)
        return [opt_g, opt_d], [
            torch.optim.lr_scheduler.LambdaLR(opt_g, decay),
            torch.optim.lr_scheduler.LambdaLR(opt_d, decay),
        ]
