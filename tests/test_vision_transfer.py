"""transfer_learning: the backbone really comes from the pretraining run's checkpoint, phase 1
trains only the head, phase 2 adds layer3+layer4 at their own LR, and each phase's test
accuracy and time are recorded. Tiny budgets (ImageNet stem on 32 px keeps ResNet18 cheap)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import ROOT, TINY, cli, summary

PRETRAIN = str(ROOT / "configs" / "labs" / "vision" / "transfer_pretrain.yaml")
TRANSFER = str(ROOT / "configs" / "labs" / "vision" / "transfer_learning.yaml")
FAST = [*TINY, "--trainer.limit_test_batches", "2", "--model.init_args.net.init_args.cifar_stem", "false",
        "--data.init_args.batch_size", "8", "--data.init_args.eval_batch_size", "16"]
NET = "--model.init_args.net.init_args."


def _state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_pretrain_then_two_phase_transfer(tmp_path):
    runs = tmp_path / "runs"
    pre = cli("fit", "--config", PRETRAIN, *FAST, runs_dir=runs, lab="transfer_pretrain")
    (best,) = (pre / "checkpoints").glob("best-*.ckpt")
    run = cli("fit", "--config", TRANSFER, *FAST, "--trainer.max_epochs", "2", "--test_after_fit", "true",
              NET + "weights", str(runs / "transfer_pretrain" / "version_*" / "checkpoints" / "best-*.ckpt"),
              NET + "if_missing", "error", "--trainer.callbacks.init_args.head_epochs", "1",
              runs_dir=runs, lab="transfer")

    before = _state(best)["state_dict"]
    ckpt = _state(run / "checkpoints" / "last.ckpt")
    after = ckpt["state_dict"]
    # frozen throughout (stem, layer1, layer2, their BatchNorm statistics): exactly the pretrained tensors
    for key in ("net.backbone.conv1.weight", "net.backbone.layer1.0.conv1.weight",
                "net.backbone.layer2.1.bn2.running_mean", "net.backbone.layer1.0.bn1.weight"):
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)
    # unfrozen in phase 2: moved away from the pretrained weights; the head is new (5 classes)
    assert not torch.equal(after["net.backbone.layer4.1.conv2.weight"], before["net.backbone.layer4.1.conv2.weight"])
    assert after["net.backbone.fc.weight"].shape == (5, 512)
    # discriminative learning rates: head at the optimizer's 1e-3, layer3+layer4 as a new group at 1e-4
    assert [g["lr"] for g in ckpt["optimizer_states"][0]["param_groups"]] == [1e-3, 1e-4]

    phases = summary(run)["phases"]
    fc = 512 * 5 + 5
    assert phases["phase1"]["trainable_params"] == fc
    layer34 = sum(v.numel() for k, v in after.items() if k.startswith(("net.backbone.layer3.", "net.backbone.layer4."))
                  and "running" not in k and "num_batches" not in k)
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
        cli("fit", "--config", TRANSFER, *TINY, NET + "weights", "nowhere/*.ckpt", NET + "if_missing", "error",
            runs_dir=tmp_path / "runs", lab="x")
    assert "no checkpoint matches nowhere/*.ckpt" in capsys.readouterr().err


def test_scratch_baseline_trains_everything(tmp_path):
    """The compare spec's scratch variant: `weights=null` (as jsonargparse hands it over) and nothing frozen."""
    run = cli("fit", "--config", TRANSFER, *FAST, f"{NET}weights=null", "--trainer.callbacks.init_args.freeze=false",
              runs_dir=tmp_path / "runs", lab="scratch")
    s = summary(run)
    assert s["phases"]["phase1"]["trainable_params"] == s["params"]
