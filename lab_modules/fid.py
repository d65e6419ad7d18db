"""MNIST-FID: the Frechet distance (torchmetrics' FrechetInceptionDistance) in the feature space of
an MNIST classifier this project trains itself, instead of Inception-v3 (which needs downloaded
weights and torch-fidelity). Its numbers are NOT comparable with Inception FID.

The default feature net ships in ``lab_modules/assets/mnist_feature_cnn.pt`` (see
``configs/labs/generative/mnist_fid_cnn.yaml`` for how it is produced). Export another one with

    python -m lab_modules.fid export runs/mnist_fid_cnn/version_N/checkpoints/last.ckpt OUT.pt
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from lab_modules.nets.mnist_features import MNISTFeatureNet
from labcore.checkpoints import prefixed_weights, read_checkpoint
from labcore.errors import LabError

DEFAULT_FEATURES = Path(__file__).parent / "assets" / "mnist_feature_cnn.pt"
HOW = "train one with configs/labs/generative/mnist_fid_cnn.yaml and pass its checkpoint"


def load_feature_net(path: str | Path | None = None) -> MNISTFeatureNet:
    """A frozen MNISTFeatureNet from a Lightning checkpoint of the mnist_fid_cnn lab (``net.*``
    keys) or an exported state dict; ``None``: the shipped default."""
    p = Path(path) if path else DEFAULT_FEATURES
    if not p.exists():
        raise LabError(f"fid_classifier: no file at {p}; {HOW}")
    state = read_checkpoint(p, "--model.init_args.fid_classifier")
    if "state_dict" in state:
        state = prefixed_weights(state["state_dict"], "net.")
    try:
        return MNISTFeatureNet.from_state_dict(state)
    except (ValueError, RuntimeError) as err:
        raise LabError(f"fid_classifier {p}: {err}; {HOW}") from err


def mnist_fid(feature_net: MNISTFeatureNet) -> FrechetInceptionDistance:
    """Frechet distance between real and generated images in [0, 1] (N x 1 x 28 x 28)."""
    return FrechetInceptionDistance(feature=feature_net, normalize=True, reset_real_features=True)


def export(ckpt: str, out: str) -> None:
    net = load_feature_net(ckpt)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_for_export(), out)
    print(f"wrote {out} (channels from {ckpt}, {net.num_features} features)")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "export":
        sys.exit("usage: python -m lab_modules.fid export CHECKPOINT OUT.pt")
    export(sys.argv[2], sys.argv[3])
