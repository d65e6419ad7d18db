"""Parameter counts of the vision labs' nets, pinned as the reports print them, built from the
lab configs' own arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab_modules.nets import ConvPoolLinear, LeNet, SmallCNN, count_parameters

LABS = Path(__file__).resolve().parent.parent / "configs" / "labs" / "vision"


def _net_args(lab: str) -> dict:
    cfg = yaml.safe_load((LABS / f"{lab}.yaml").read_text())
    return cfg["model"]["init_args"]["net"].get("init_args") or {}


@pytest.mark.parametrize(
    ("lab", "net", "data", "expected"),
    [
        ("early_stopping", ConvPoolLinear, {"in_channels": 3, "image_size": 128, "num_classes": 2}, 263_042),
        ("feature_maps", LeNet, {"in_channels": 3, "image_size": 32, "num_classes": 10}, 62_006),
        ("mnist_cnn", SmallCNN, {"in_channels": 1, "image_size": 28, "num_classes": 10}, 206_922),
    ],
)
def test_parameter_counts(lab, net, data, expected):
    assert count_parameters(net(**_net_args(lab), **data)) == expected


def test_early_stopping_layers():
    """conv32 -> ReLU -> pool -> linear, and nothing else."""
    net = ConvPoolLinear(**_net_args("early_stopping"), in_channels=3, image_size=128, num_classes=2)
    assert [type(m).__name__ for m in net.children()] == ["Conv2d", "ReLU", "MaxPool2d", "Linear"]
    assert net.conv.out_channels == 32 and net.fc.in_features == 32 * 64 * 64


def test_early_stopping_config_monitors_val_loss():
    cfg = yaml.safe_load((LABS / "early_stopping.yaml").read_text())
    assert cfg["checkpoint"] == {"monitor": "val/loss", "mode": "min"}
    stop = [c for c in cfg["trainer"]["callbacks"] if c["class_path"].endswith("EarlyStopping")]
    assert stop and stop[0]["init_args"] == {"monitor": "val/loss", "mode": "min", "patience": 5}
