"""transfer_learning: the backbone really comes from the pretraining run's checkpoint, phase 1
trains only the head, phase 2 adds layer3+layer4 at their own LR, and each phase's test
accuracy and time are recorded. Tiny budgets (ImageNet stem on 32 px keeps ResNet18 cheap)."""

from __future__ import annotations

import json
import os

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from callbacks import PhasedFinetuning
from datamodules import ImageFolderDataModule
from lab_modules import Classifier
from lab_modules.nets import ResNet18, TransferResNet18
from labcore.errors import LabError
from tests.helpers import ROOT, TINY, cli, summary

PRETRAIN = str(ROOT / "configs" / "labs" / "vision" / "transfer_pretrain.yaml")
TRANSFER = str(ROOT / "configs" / "labs" / "vision" / "transfer_learning.yaml")
FAST = [
    *TINY,
    "--trainer.limit_test_batches",
    "2",
    "--model.init_args.net.init_args.cifar_stem",
    "false",
    "--data.init_args.batch_size",
    "8",
    "--data.init_args.eval_batch_size",
    "16",
]
NET = "--model.init_args.net.init_args."


def _state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_pretrain_then_two_phase_transfer(tmp_path):
    runs = tmp_path / "runs"
    pre = cli("fit", "--config", PRETRAIN, *FAST, runs_dir=runs, lab="transfer_pretrain")
    (best,) = (pre / "checkpoints").glob("best-*.ckpt")
    run = cli(
        "fit",
        "--config",
        TRANSFER,
        *FAST,
        "--trainer.max_epochs",
        "2",
        "--test_after_fit",
        "true",
        NET + "weights",
        "run:transfer_pretrain",
        NET + "runs_dir",
        str(runs),
        "--trainer.callbacks.init_args.head_epochs",
        "1",
        runs_dir=runs,
        lab="transfer",
    )

    before = _state(best)["state_dict"]
    ckpt = _state(run / "checkpoints" / "last.ckpt")
    after = ckpt["state_dict"]
    # frozen throughout (stem, layer1, layer2, their BatchNorm statistics): exactly the pretrained tensors.
    # Equal running statistics alone do not show that BatchNorm was frozen: Lightning's freeze() sets
    # track_running_stats=False, so a frozen BN layer left in training mode keeps its buffers but normalises
    # with batch statistics; test_frozen_batchnorm_normalises_with_pretrained_statistics checks the forward.
    for key in (
        "net.backbone.conv1.weight",
        "net.backbone.layer1.0.conv1.weight",
        "net.backbone.layer2.1.bn2.running_mean",
        "net.backbone.layer1.0.bn1.weight",
    ):
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)
    # unfrozen in phase 2: moved away from the pretrained weights; the head is new (5 classes)
    assert not torch.equal(after["net.backbone.layer4.1.conv2.weight"], before["net.backbone.layer4.1.conv2.weight"])
    assert after["net.backbone.fc.weight"].shape == (5, 512)
    # discriminative learning rates: head at the optimizer's 1e-3, layer3+layer4 as a new group at 1e-4
    assert [g["lr"] for g in ckpt["optimizer_states"][0]["param_groups"]] == [1e-3, 1e-4]

    phases = summary(run)["phases"]
    fc = 512 * 5 + 5
    assert phases["phase1"]["trainable_params"] == fc
    layer34 = sum(
        v.numel()
        for k, v in after.items()
        if k.startswith(("net.backbone.layer3.", "net.backbone.layer4."))
        and "running" not in k
        and "num_batches" not in k
    )
    assert phases["phase2"]["trainable_params"] == fc + layer34
    for p in ("phase1", "phase2"):
        assert 0.0 <= phases[p]["test_acc"] <= 1.0 and phases[p]["seconds"] > 0
    assert summary(run)["test"]["test/acc"] >= 0


def test_imagenet_weights_offline_is_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached ImageNet weights
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--config", TRANSFER, *TINY, NET + "weights", "imagenet", runs_dir=tmp_path / "runs", lab="x")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: weights=imagenet") and "transfer_pretrain.yaml" in err


def test_missing_checkpoint_names_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli(
            "fit",
            "--config",
            TRANSFER,
            *TINY,
            NET + "weights",
            "nowhere/best.ckpt",
            runs_dir=tmp_path / "runs",
            lab="x",
        )
    assert "weights=nowhere/best.ckpt: no such file" in capsys.readouterr().err


def test_scratch_baseline_trains_everything(tmp_path):
    """The compare spec's scratch variant: `weights=null` (as jsonargparse hands it over) and nothing frozen."""
    run = cli(
        "fit",
        "--config",
        TRANSFER,
        *FAST,
        f"{NET}weights=null",
        "--trainer.callbacks.init_args.freeze=false",
        runs_dir=tmp_path / "runs",
        lab="scratch",
    )
    s = summary(run)
    assert s["phases"]["phase1"]["trainable_params"] == s["params"]


def test_no_pretrain_run_is_one_line_error_never_a_random_backbone(tmp_path, capsys):
    """The lab config as shipped, on a machine with no pretraining run: one error line with the two commands
    (pretrain, then transfer with the weights path) and the online alternative; no silent random backbone."""
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--config", TRANSFER, *TINY, runs_dir=tmp_path / "runs", lab="x")
    assert exit_info.value.code == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1
    err = errors[0]
    assert "python cli.py fit --config configs/labs/vision/transfer_pretrain.yaml" in err
    assert "python cli.py fit --config configs/labs/vision/transfer_learning.yaml " + NET + "weights" in err
    assert "weights imagenet" in err
    assert not (tmp_path / "runs" / "x" / "version_0" / "checkpoints").exists()


def test_freezing_a_random_backbone_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--config", TRANSFER, *TINY, f"{NET}weights=null", runs_dir=tmp_path / "runs", lab="x")
    assert exit_info.value.code == 2
    assert "freezing a random backbone is not transfer learning" in capsys.readouterr().err


# --- weights resolution: deterministic, never by mtime ----------------------------------------------


def _fake_run(runs, version: int, value: float, summary_json: bool = True):
    """A finished transfer_pretrain run whose backbone tensors are all ``value``; returns its checkpoint."""
    run = runs / "transfer_pretrain" / f"version_{version}"
    (run / "checkpoints").mkdir(parents=True)
    net = ResNet18(num_classes=5)
    state = {f"net.{k}": torch.full_like(v, value) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    ckpt = run / "checkpoints" / f"best-epoch000-step{version}.ckpt"
    torch.save({"state_dict": state}, ckpt)
    if summary_json:
        (run / "summary.json").write_text(json.dumps({"best_checkpoint": str(ckpt), "monitor": "val/acc"}))
    return ckpt


def test_run_reference_takes_highest_version_and_its_recorded_best_checkpoint(tmp_path):
    runs = tmp_path / "runs"
    old = _fake_run(runs, 2, 2.0)
    new = _fake_run(runs, 10, 10.0)  # "version_10" sorts before "version_2" as text
    _fake_run(runs, 11, 11.0, summary_json=False)  # started, never finished: no summary.json, skipped
    os.utime(old, (2e9, 2e9))  # the older run's checkpoint is the newest file: mtime must not decide
    net = TransferResNet18(num_classes=5, weights="run:transfer_pretrain", runs_dir=str(runs))
    assert net.weights_source == str(new)
    assert torch.all(net.backbone.layer1[0].conv1.weight == 10.0)
    # a run directory names its own recorded best checkpoint; cwd-relative default runs dir
    run_dir = runs / "transfer_pretrain" / "version_2"
    assert TransferResNet18(num_classes=5, weights=str(run_dir)).weights_source == str(old)
    cwd_default = TransferResNet18(num_classes=5, weights="run:transfer_pretrain")  # the test's cwd is tmp_path
    assert cwd_default.weights_source == str(new)
    with pytest.raises(LabError, match="glob"):
        TransferResNet18(
            num_classes=5, weights=str(runs / "transfer_pretrain" / "version_*" / "checkpoints" / "*.ckpt")
        )
    with pytest.raises(LabError, match="no finished transfer_pretrain run"):
        TransferResNet18(num_classes=5, weights="run:transfer_pretrain", runs_dir=str(tmp_path / "elsewhere"))


# --- resume and frozen BatchNorm, in process (the trainer's optimizer is inspected) ------------------

CLASSES = ["dog", "frog", "horse", "ship", "truck"]


def _dm() -> ImageFolderDataModule:
    return ImageFolderDataModule(source="embedded", classes=CLASSES, image_size=32, batch_size=8, eval_batch_size=16)


def _pretrained(tmp_path) -> str:
    """A stand-in pretrained backbone (ImageNet stem, as FAST) whose BatchNorm statistics come from data, so they
    differ from any training batch's statistics."""
    torch.manual_seed(0)
    net = ResNet18(num_classes=5, cifar_stem=False)
    dm = _dm()
    dm.setup("fit")
    net.train()
    with torch.no_grad():
        for i, batch in enumerate(dm.train_dataloader()):
            net(batch["image"])
            if i == 2:
                break
    path = tmp_path / "pretrained.pt"
    torch.save(net.state_dict(), path)
    return str(path)


def _model(weights: str) -> Classifier:
    net = TransferResNet18(num_classes=5, cifar_stem=False, weights=weights)
    return Classifier(net, num_classes=5, class_names=CLASSES)


def _trainer(tmp_path, max_epochs: int, callbacks: list) -> L.Trainer:
    return L.Trainer(
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=1,
        limit_test_batches=1,
        num_sanity_val_steps=0,
        logger=CSVLogger(tmp_path / "logs"),
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )


@pytest.mark.slow
def test_resume_after_the_unfreeze_epoch_stays_fine_tuned(tmp_path):
    L.seed_everything(0)
    weights = _pretrained(tmp_path)
    ckpts = tmp_path / "ckpt"
    first = _model(weights)
    _trainer(
        tmp_path, 2, [PhasedFinetuning(head_epochs=1, backbone_lr=1e-4), ModelCheckpoint(ckpts, save_last=True)]
    ).fit(first, datamodule=_dm())
    saved = {k: v.clone() for k, v in first.state_dict().items()}  # what last.ckpt holds (end of epoch 2)

    model, phased = _model(weights), PhasedFinetuning(head_epochs=1, backbone_lr=1e-4)
    trainer = _trainer(tmp_path, 3, [phased])
    # weights_only=True resume; this in-process model's hparams hold the optimizer class (the CLI stores its config)
    with torch.serialization.safe_globals([torch.optim.Adam]):
        trainer.fit(model, datamodule=_dm(), ckpt_path=str(ckpts / "last.ckpt"))

    backbone = model.net.backbone
    unfrozen = [p for layer in (backbone.layer3, backbone.layer4) for p in layer.parameters()]
    assert all(p.requires_grad for p in unfrozen)
    groups = trainer.optimizers[0].param_groups
    assert len(groups) == 2
    for p in unfrozen:
        holding = [g for g in groups if any(q is p for q in g["params"])]
        assert len(holding) == 1 and holding[0]["lr"] == 1e-4
    after = model.state_dict()
    for key in ("net.backbone.layer3.0.conv1.weight", "net.backbone.layer4.1.conv2.weight"):  # trained in epoch 3
        assert not torch.equal(after[key], saved[key]), key
    for key in ("net.backbone.layer1.0.conv1.weight", "net.backbone.layer2.1.bn2.running_mean"):  # still frozen
        torch.testing.assert_close(after[key], saved[key], rtol=0, atol=0)
    assert phased.phases["phase2"]["epochs_done"] == 3
    assert phased.phases["phase2"]["seconds"] > 0
    assert phased.phases["phase2"]["trainable_params"] == 5 * 512 + 5 + sum(p.numel() for p in unfrozen)


def test_frozen_batchnorm_normalises_with_pretrained_statistics(tmp_path):
    """A frozen BatchNorm layer (layer2: frozen in phase 1 and 2) keeps its running statistics AND normalises
    with them in the training forward (eval behaviour), not with the batch's statistics."""
    L.seed_everything(0)
    model = _model(_pretrained(tmp_path))
    bn = model.net.backbone.layer2[1].bn2
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    seen = []

    def record(module, inputs, output):
        if model.training:  # training steps only, not the validation/test forwards
            seen.append((inputs[0].detach().clone(), output.detach().clone()))

    bn.register_forward_hook(record)
    _trainer(tmp_path, 2, [PhasedFinetuning(head_epochs=1)]).fit(model, datamodule=_dm())
    assert len(seen) == 4  # two epochs of two batches; the second epoch follows the phase-1 accuracy pass
    torch.testing.assert_close(bn.running_mean, mean, rtol=0, atol=0)
    torch.testing.assert_close(bn.running_var, var, rtol=0, atol=0)
    for x, y in seen:
        expected = F.batch_norm(x, mean, var, bn.weight, bn.bias, training=False, eps=bn.eps)
        torch.testing.assert_close(y, expected)
