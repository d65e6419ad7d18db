"""Fidelity ledger, vision labs: one guard per flaw of the reports that docs/ledger.md
("Where the reports were wrong") lists. Each guard fails if its flaw comes back; the comment above
it says how, and where cheap the test computes the flawed variant and shows it differs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import yaml
from matplotlib import pyplot as plt
from torch import nn

import callbacks.feature_maps
from callbacks import FeatureMaps
from tests.helpers import ROOT, TINY, cli, summary
from tests.ledger_helpers import LABS, QUIET, lab

VISION = LABS / "vision"


def _minmax(x: torch.Tensor) -> np.ndarray:
    """Each map (N x C x H x W -> every H x W) scaled to [0, 1] on its own, as the figure shows it."""
    flat = x.flatten(2)
    lo, hi = flat.min(2, keepdim=True).values, flat.max(2, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(x).numpy()


# --- cifar_bn_augment: two of the four cells of the BN x augmentation ablation --------------------------------
# The flaw: the report ran baseline and BN + augmentation only. Fails if: the compare spec does not hold four
# variants whose resolved (batchnorm, augment) settings are the four combinations, or a variant's
# batchnorm setting does not put BatchNorm layers into the net (or leaves them in).
def test_cifar_bn_augment_compare_runs_all_four_cells(tmp_path):
    spec = yaml.safe_load((ROOT / "configs" / "compare" / "cifar_bn_augment.yaml").read_text())
    assert len(spec["variants"]) == 4
    cells = {}
    for name, overrides in spec["variants"].items():
        built = lab(
            None,
            *[str(a) for a in spec.get("args") or []],
            *[str(a) for a in overrides or []],
            runs_dir=tmp_path / name,
            configs=[ROOT / c for c in spec["configs"]],
        )
        cfg = built.config
        bn = bool(cfg.model.init_args.net.init_args.batchnorm)
        augment = bool(cfg.data.init_args.augment)
        assert any(isinstance(m, nn.BatchNorm2d) for m in built.model.modules()) == bn, name
        cells[name] = (bn, augment)
    assert sorted(cells.values()) == sorted(itertools.product([False, True], repeat=2)), cells


# --- feature_maps: feature maps of untrained weights ------------------------------------------------------------
# The flaw: the report visualised the activations of a net it never trained. Fails if: the lab's config does
# not train, its FeatureMaps figure is not drawn after training, or the maps drawn are not the trained
# conv1's outputs (drawn from the initial weights they would equal the initial conv1's, which differ).
def test_feature_maps_lab_draws_the_trained_net(tmp_path, monkeypatch):
    config = VISION / "feature_maps.yaml"
    assert yaml.safe_load(config.read_text())["trainer"]["max_epochs"] >= 1
    drawn: dict[str, list[np.ndarray]] = {}
    inputs: list[torch.Tensor] = []

    def capture(trainer, fig, name, step=None):
        drawn[name] = [np.array(ax.get_images()[0].get_array()) for ax in fig.axes if ax.get_images()]
        plt.close(fig)

    monkeypatch.setattr(callbacks.feature_maps, "log_figure", capture)
    built = lab(
        config,
        *QUIET,
        "--trainer.logger",
        "false",
        "--trainer.enable_checkpointing",
        "false",
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_train_batches",
        "5",
        "--trainer.limit_val_batches",
        "1",
        "--data.init_args.max_train_samples",
        "160",
        "--data.init_args.batch_size",
        "32",
        "--data.init_args.source",
        "embedded",
        runs_dir=tmp_path,
    )
    model, trainer = built.model, built.trainer
    (maps,) = [cb for cb in trainer.callbacks if isinstance(cb, FeatureMaps)]
    assert "net.conv1" in maps.layers
    initial_conv1 = [p.detach().clone() for p in model.net.conv1.parameters()]
    model.net.conv1.register_forward_hook(lambda _m, args, _out: inputs.append(args[0].detach().clone()))
    trainer.fit(model, datamodule=built.datamodule)

    assert "feature_maps/net.conv1_trained" in drawn
    images = drawn["feature_maps/net.conv1_trained"]
    x = inputs[-1]  # what the callback fed conv1 for its figure (the last forward of the run)
    per_row = 1 + min(maps.max_maps, model.net.conv1.out_channels)
    with torch.no_grad():
        trained = _minmax(model.net.conv1(x)[:, : per_row - 1])
        untrained = _minmax(nn.functional.conv2d(x, *initial_conv1)[:, : per_row - 1])
    for row in range(len(x)):
        shown = np.stack(images[row * per_row + 1 : (row + 1) * per_row])
        np.testing.assert_allclose(shown, trained[row], atol=1e-5)
        assert np.abs(shown - untrained[row]).max() > 1e-3, "the feature maps show the untrained net"


# --- transfer_learning: one test number printed for both transfer phases ---------------------------------------
# The flaw: the report printed the same test accuracy after the head-only phase and after fine-tuning. Each
# epoch's checkpoint is kept here (the head-only phase is epoch 0). Fails if: summary.json's phase1 test
# accuracy is not the accuracy of the weights at the end of phase 1, or phase2's not that of the final
# weights (which differ: one number reported twice cannot match both).
@pytest.mark.slow
def test_transfer_phases_are_tested_separately(tmp_path):
    config = str(VISION / "transfer_learning.yaml")
    # A saved backbone stands in for the pretraining run (freezing a random one is refused).
    from lab_modules.nets import ResNet18

    backbone = tmp_path / "backbone.pt"
    torch.save(ResNet18(cifar_stem=False).state_dict(), backbone)
    fast = [
        *TINY,
        "--trainer.limit_test_batches",
        "2",
        "--trainer.logger",
        "false",
        "--model.init_args.net.init_args.cifar_stem",
        "false",
        f"--model.init_args.net.init_args.weights={backbone}",
        "--data.init_args.batch_size",
        "8",
        "--data.init_args.eval_batch_size",
        "50",
        "--model.init_args.optimizer.init_args.lr",
        "1e-2",
    ]
    run = cli(
        "fit",
        "--config",
        config,
        *fast,
        "--trainer.max_epochs",
        "2",
        "--trainer.callbacks.init_args.head_epochs",
        "1",
        "--checkpoint.monitor",
        "step",
        "--checkpoint.mode",
        "max",
        "--checkpoint.save_top_k",
        "-1",
        runs_dir=tmp_path / "runs",
        lab="transfer",
    )
    phases = summary(run)["phases"]
    ckpts = sorted((run / "checkpoints").glob("best-epoch*.ckpt"))
    assert [c.name[:13] for c in ckpts] == ["best-epoch000", "best-epoch001"]

    def test_acc(ckpt) -> float:
        out = cli("test", "--config", config, *fast, "--ckpt_path", str(ckpt), runs_dir=tmp_path / "runs", lab="test")
        return summary(out)["test"]["test/acc"]

    after_head, after_finetune = test_acc(ckpts[0]), test_acc(ckpts[1])
    assert after_head != after_finetune  # so one number reported for both phases must fail below
    assert phases["phase1"]["test_acc"] == pytest.approx(after_head, abs=1e-6)
    assert phases["phase2"]["test_acc"] == pytest.approx(after_finetune, abs=1e-6)
