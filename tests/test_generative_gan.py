"""GAN: manual optimisation steps both optimizers; figures, loss curves and MNIST-FID over epochs."""

from __future__ import annotations

import csv

import lightning as L
import pytest
import torch

from datamodules import MNISTDataModule
from lab_modules import GAN
from lab_modules.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from tests.helpers import ROOT, cli


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


def _changed(before, module) -> bool:
    return all(not torch.equal(b, a) for b, a in zip(before, module.parameters()) if a.requires_grad)


def test_manual_optimisation_steps_generator_and_discriminator():
    for g, d in (
        (MLPGenerator(latent_dim=16, hidden=[32]), MLPDiscriminator(hidden=[32])),
        (DCGANGenerator(latent_dim=16, ngf=8), DCGANDiscriminator(ndf=8)),
    ):
        model = GAN(g, d, fid=False)
        g0, d0 = _params(model.generator), _params(model.discriminator)
        dm = MNISTDataModule(source="embedded", normalize=False, batch_size=16, max_train_samples=32)
        trainer = L.Trainer(
            max_epochs=1,
            limit_train_batches=2,
            limit_val_batches=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(model, datamodule=dm)
        opt_g, opt_d = model.optimizers()
        assert opt_g.optimizer.param_groups[0]["betas"] == (0.5, 0.999)
        for opt in (opt_g, opt_d):  # each Adam has taken one step per batch
            assert all(s["step"] == 2 for s in opt.optimizer.state.values())
        assert trainer.global_step == 4  # manual optimisation counts every optimizer step
        assert _changed(g0, model.generator) and _changed(d0, model.discriminator)
        assert {"train/d_loss_epoch", "train/g_loss_epoch"} <= set(trainer.callback_metrics)


@pytest.mark.slow
def test_gan_cli_figures_progression_and_fid_per_epoch(tmp_path):
    args = [
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_train_batches",
        "1",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.limit_test_batches",
        "1",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.enable_model_summary",
        "false",
    ]
    every_epoch = tmp_path / "every_epoch.yaml"
    every_epoch.write_text(
        "trainer:\n  callbacks:\n    - class_path: callbacks.ImageGrids\n      init_args: {every_n_epochs: 1, n: 16}\n"
        "    - class_path: callbacks.LossCurves\n      init_args: {metrics: [train/d_loss_epoch, train/g_loss_epoch]}\n"
    )
    run = cli(
        "fit",
        "--config",
        str(ROOT / "configs/labs/generative/gan.yaml"),
        "--config",
        str(every_epoch),
        *args,
        "--test_after_fit",
        "true",
        runs_dir=tmp_path / "runs",
        lab="gan",
    )
    figures = {p.name for p in (run / "figures").glob("*.png")}
    assert {
        "val_samples_epoch000.png",
        "val_samples_epoch001.png",
        "val_samples_progression.png",
        "train_loss_curves.png",
        "test_samples.png",
    } <= figures
    with open(run / "metrics.csv") as f:
        fids = [float(r["val/fid_mnist"]) for r in csv.DictReader(f) if r.get("val/fid_mnist")]
    assert len(fids) == 2 and all(v > 0 for v in fids)
