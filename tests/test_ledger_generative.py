"""Fidelity ledger, generative labs: one guard per flaw of the reports that docs/ledger.md
("Where the reports were wrong") lists. Each guard fails if its flaw comes back; the comment above
it says how, and where cheap the test computes the flawed variant and shows it differs."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from datamodules import NoisyMNISTDataModule
from lab_modules import DenoisingAutoencoder
from labcore.errors import LabError
from tests.helpers import TINY
from tests.ledger_helpers import LABS, batches, lab

GENERATIVE = LABS / "generative"


# --- vae: BCE targets in [-1, 1] ------------------------------------------------------------------------------------
# The flaw: the report normalised MNIST to [-1, 1] and fed it to BCE as targets (a "loss" with no likelihood
# meaning, negative terms included). Fails if: a VAE lab config's training batches are not in [0, 1], or
# the VAE accepts [-1, 1] targets instead of refusing them.
@pytest.mark.parametrize("config", ["vae.yaml", "vae_conv.yaml"])
def test_vae_targets_are_in_0_1(tmp_path, config):
    built = lab(GENERATIVE / config, *TINY, runs_dir=tmp_path)
    dm = built.datamodule
    dm.setup("fit")
    x = next(iter(dm.train_dataloader()))["image"]
    assert float(x.min()) == 0.0 and float(x.max()) <= 1.0 and float(x.max()) > 0.9
    # BCE against [-1, 1] targets is not a likelihood: it can go below zero, which BCE on [0, 1] cannot
    flawed = F.binary_cross_entropy_with_logits(torch.full_like(x, -20.0), x * 2 - 1, reduction="sum")
    assert float(flawed) < 0
    with pytest.raises(LabError, match=r"\[0, 1\]"):
        built.model.training_step({"image": x * 2 - 1, "label": torch.zeros(len(x), dtype=torch.long)}, 0)


# --- denoising_ae: one noise draw reused for every epoch --------------------------------------------------------------
# The flaw: the report added noise once, before training, so every epoch saw the same noisy images. Fails if:
# an example's noisy version is the same in two training epochs (read through the public train loader),
# or validation noise changes between passes or between two datamodules (it must be fixed by its seed).
def test_denoising_noise_is_fresh_each_epoch_and_fixed_for_validation():
    def epoch(dm, split: str, number: int = 0) -> dict[bytes, torch.Tensor]:
        out = {}
        loader = getattr(dm, f"{split}_dataloader")()
        if split == "train":
            loader.batch_sampler.set_epoch(number)  # what Lightning does at each epoch start
        for batch in loader:
            for clean, noisy in zip(batch["image"], batch["noisy"]):
                out[clean.numpy().tobytes()] = noisy
        return out

    dm = NoisyMNISTDataModule(source="embedded", batch_size=64, eval_batch_size=200, max_train_samples=128)
    dm.setup("fit")
    first, second = epoch(dm, "train", 0), epoch(dm, "train", 1)
    common = first.keys() & second.keys()
    assert len(common) > 100
    assert all(not torch.equal(first[k], second[k]) for k in common)
    val_a, val_b = epoch(dm, "val"), epoch(dm, "val")
    other = NoisyMNISTDataModule(source="embedded", batch_size=64, eval_batch_size=200, max_train_samples=128)
    other.setup("fit")
    val_c = epoch(other, "val")
    assert val_a.keys() == val_b.keys() == val_c.keys()
    assert all(torch.equal(val_a[k], val_b[k]) and torch.equal(val_a[k], val_c[k]) for k in val_a)


# --- denoising_ae: PSNR averaged over batches -------------------------------------------------------------------------
# The flaw: the report averaged per-batch PSNRs, which depends on how the split is cut into batches (and is
# not the PSNR of the split). Fails if: test/psnr (or psnr_noisy) is not 10 log10(1 / MSE over the whole
# split). The two batches here have very different errors, so their mean PSNR is 10 dB above the split's.
def test_psnr_is_over_the_whole_split_not_a_mean_of_batches():
    clean = torch.full((4, 1, 16, 16), 0.5)
    g = torch.Generator().manual_seed(0)
    sign = torch.randint(0, 2, clean.shape, generator=g) * 2 - 1
    small = {"noisy": clean + 0.01 * sign, "image": clean}
    large = {"noisy": (clean + 0.3 * sign)[:2], "image": clean[:2]}
    model = DenoisingAutoencoder(nn.Identity())  # the output is the noisy input: its PSNR is known
    trainer = L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    out = trainer.test(model, batches(small, large), verbose=False)[0]
    mse = torch.cat([(b["noisy"] - b["image"]).flatten() for b in (small, large)]).pow(2).mean()
    split = 10 * math.log10(1 / float(mse))
    per_batch = sum(10 * math.log10(1 / float((b["noisy"] - b["image"]).pow(2).mean())) for b in (small, large)) / 2
    assert out["test/psnr"] == pytest.approx(split, abs=1e-3)
    assert out["test/psnr_noisy"] == pytest.approx(split, abs=1e-3)
    assert per_batch - split > 5
