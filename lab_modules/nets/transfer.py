"""ResNet18 whose backbone starts from pretrained weights: torchvision's ImageNet weights
(online) or the backbone of another dl-labs run's checkpoint (offline)."""

from __future__ import annotations

import glob
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from labcore.errors import LabError
from labcore.offline import network_available
from lab_modules.nets.resnet import ResNet18

_OFFLINE_HINT = ("offline alternative: pretrain with `python cli.py fit --config configs/labs/vision/transfer_pretrain.yaml` "
                 "and pass --model.init_args.net.init_args.weights <its best checkpoint>")


class TransferResNet18(ResNet18):
    """``ResNet18`` plus ``weights``:

    - ``None``: random initialisation (the from-scratch baseline);
    - ``imagenet``: torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` (needs the download, or the
      file already in the torch hub cache; use ``cifar_stem: false`` so ``conv1`` is kept);
    - a checkpoint path or glob (newest match wins): a Lightning checkpoint of a run whose net
      was a ``ResNet18`` (keys ``net.backbone.*``), or a plain state dict. Read with
      ``torch.load(weights_only=True)``. Everything but the classification head ``fc`` is loaded
      and must match.

    ``if_missing`` says what a glob that matches nothing does: ``error`` (default) or ``random``
    (a loud warning, then random weights; lets a lab config name the pretraining run's output
    and still run on a fresh machine).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, cifar_stem: bool = True,
                 weights: str | None = None, if_missing: str = "error") -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, cifar_stem=cifar_stem)
        if if_missing not in ("error", "random"):
            raise LabError(f"if_missing={if_missing!r}: use error or random")
        self.weights_source = None
        if weights is None or weights.lower() in ("", "none", "null"):  # jsonargparse may hand `null` over as "None"
            return
        if weights == "imagenet":
            state = _imagenet_state_dict()
            self._load_backbone(state, "imagenet", strict=False)
            return
        path = _resolve_checkpoint(weights, if_missing)
        if path is None:
            return
        raw = torch.load(path, map_location="cpu", weights_only=True)
        state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
        if not isinstance(state, dict):
            raise LabError(f"{path} holds no state dict; pass a Lightning checkpoint of a ResNet18 run")
        state = {k.removeprefix("net."): v for k, v in state.items()}
        if not any(k.startswith("backbone.") for k in state):
            state = {f"backbone.{k}": v for k, v in state.items()}  # a bare torchvision state dict
        self._load_backbone(state, str(path), strict=True)

    def _load_backbone(self, state: dict, source: str, strict: bool) -> None:
        own = self.state_dict()
        usable = {k: v for k, v in state.items()
                  if k in own and not k.startswith("backbone.fc.") and v.shape == own[k].shape}
        skipped = sorted(k for k in own if not k.startswith("backbone.fc.") and k not in usable)
        if skipped and strict:
            raise LabError(f"{source}: no matching ResNet18 backbone ({len(skipped)} tensors missing or of another "
                           f"shape, e.g. {skipped[0]}); pass a checkpoint of a ResNet18 run with the same cifar_stem")
        if skipped:
            warnings.warn(f"[dl-labs] {source}: kept random init for {len(skipped)} tensors ({', '.join(skipped[:3])}...)",
                          stacklevel=2)
        self.load_state_dict(usable, strict=False)
        self.weights_source = source
        print(f"[dl-labs] TransferResNet18: backbone loaded from {source} ({len(usable)} tensors; head fc is new)")


def _resolve_checkpoint(weights: str, if_missing: str) -> Path | None:
    if any(c in weights for c in "*?["):
        matches = sorted(glob.glob(weights), key=os.path.getmtime)
        if matches:
            return Path(matches[-1])
        if if_missing == "random":
            warnings.warn(f"[dl-labs] NO PRETRAINED CHECKPOINT matches {weights}: the backbone is RANDOM, this run is "
                          f"not transfer learning. {_OFFLINE_HINT}", stacklevel=3)
            return None
        raise LabError(f"no checkpoint matches {weights}; {_OFFLINE_HINT}")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise LabError(f"weights={weights}: no such file; pass imagenet (online) or a checkpoint path ({_OFFLINE_HINT})")
    return path


def _imagenet_state_dict() -> dict:
    from torchvision.models import ResNet18_Weights

    url = ResNet18_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not cached.exists():
        if not network_available("download.pytorch.org"):
            raise LabError(f"weights=imagenet needs a download from download.pytorch.org and this machine is offline; "
                           f"{_OFFLINE_HINT}")
    return {f"backbone.{k}": v for k, v in ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False).items()}
