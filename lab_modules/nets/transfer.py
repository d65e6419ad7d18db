"""ResNet18 whose backbone starts from pretrained weights: torchvision's ImageNet weights
(online) or the backbone of another dl-labs run's checkpoint (offline)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import torch

from lab_modules.nets.resnet import ResNet18
from labcore import log
from labcore.checkpoints import read_checkpoint
from labcore.errors import LabError
from labcore.offline import network_available

_WEIGHTS = "--model.init_args.net.init_args.weights"
_PRETRAIN = (
    "pretrain first: `python cli.py fit --config configs/labs/vision/transfer_pretrain.yaml`, then "
    "`python cli.py fit --config configs/labs/vision/transfer_learning.yaml "
    f"{_WEIGHTS} <its best checkpoint>` (or {_WEIGHTS} run:transfer_pretrain)"
)
_HOW_TO_GET = (
    f"{_PRETRAIN}; online: {_WEIGHTS} imagenet --model.init_args.net.init_args.cifar_stem false; "
    f"test/predict from a transfer checkpoint: {_WEIGHTS} null (the checkpoint holds the weights)"
)
_VERSION = re.compile(r"version_(\d+)")


class TransferResNet18(ResNet18):
    """``ResNet18`` plus ``weights``, the backbone's starting point:

    - ``None``: random initialisation, the from-scratch baseline (``weights_source`` stays None;
      ``callbacks.PhasedFinetuning`` refuses to freeze such a backbone);
    - ``imagenet``: torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` (needs the download, or the
      file already in the torch hub cache; use ``cifar_stem: false`` so ``conv1`` is kept);
    - a checkpoint file: a Lightning checkpoint of a run whose net was a ``ResNet18`` (keys
      ``net.backbone.*``), or a plain state dict, read with ``weights_only=True``;
    - a run directory (``runs/transfer_pretrain/version_3``): the best checkpoint its ``summary.json`` records;
    - ``run:<lab>`` (``run:transfer_pretrain``): under ``runs_dir/<lab>``, the finished run (one whose
      ``summary.json`` records a best checkpoint) with the highest version number. Never the newest
      file by modification time: the same runs always give the same weights. Globs are refused.

    Everything but the classification head ``fc`` is loaded and must match. Weights that cannot be
    found are a one-line error naming the commands that make them, never a silent random backbone.
    ``runs_dir`` is where ``run:`` references are looked up: the CLI's default ``--runs_dir``
    (``runs``, relative to the working directory); set it when the pretraining run went elsewhere.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        cifar_stem: bool = True,
        weights: str | None = None,
        runs_dir: str = "runs",
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, cifar_stem=cifar_stem)
        self.weights_source: str | None = None
        # jsonargparse may hand `null` over as "None"
        if weights is None or weights.strip().lower() in ("", "none", "null"):
            return
        if weights == "imagenet":
            self._load_backbone(_imagenet_state_dict(), "imagenet", strict=False)
            return
        path = resolve_weights(weights, Path(runs_dir))
        raw = read_checkpoint(path, option=_WEIGHTS)
        state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
        if not isinstance(state, dict) or not state:
            raise LabError(f"{path} holds no state dict; pass a Lightning checkpoint of a ResNet18 run to {_WEIGHTS}")
        state = {k.removeprefix("net."): v for k, v in state.items()}
        if not any(k.startswith("backbone.") for k in state):
            state = {f"backbone.{k}": v for k, v in state.items()}  # a bare torchvision state dict
        self._load_backbone(state, str(path), strict=True)

    def _load_backbone(self, state: dict, source: str, strict: bool) -> None:
        own = self.state_dict()
        usable = {
            k: v for k, v in state.items() if k in own and not k.startswith("backbone.fc.") and v.shape == own[k].shape
        }
        skipped = sorted(k for k in own if not k.startswith("backbone.fc.") and k not in usable)
        if skipped and strict:
            raise LabError(
                f"{source}: no matching ResNet18 backbone ({len(skipped)} tensors missing or of another "
                f"shape, e.g. {skipped[0]}); pass a checkpoint of a ResNet18 run with the same cifar_stem"
            )
        if skipped:
            warnings.warn(
                f"[dl-labs] {source}: kept random init for {len(skipped)} tensors ({', '.join(skipped[:3])}...)",
                stacklevel=2,
            )
        self.load_state_dict(usable, strict=False)
        self.weights_source = source
        log.info(f"TransferResNet18: backbone loaded from {source} ({len(usable)} tensors; head fc is new)")


def resolve_weights(weights: str, runs_dir: Path) -> Path:
    """The checkpoint file ``weights`` names: a file, a run directory, or ``run:<lab>`` under ``runs_dir``."""
    if any(c in weights for c in "*?["):
        raise LabError(
            f"weights={weights}: globs are not resolved (the newest match by time is not reproducible); "
            f"pass a checkpoint path, a run directory or run:<lab>"
        )
    if weights.startswith("run:"):
        lab = weights.removeprefix("run:").strip("/")
        return _latest_finished_run(runs_dir / lab, weights)
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if (path / "summary.json").is_file():
            return _best_checkpoint(path, weights)
        return _latest_finished_run(path, weights)
    raise LabError(f"weights={weights}: no such file; {_HOW_TO_GET}")


def _latest_finished_run(lab_dir: Path, weights: str) -> Path:
    versions = sorted(
        (
            (int(m.group(1)), p)
            for p in (lab_dir.glob("version_*") if lab_dir.is_dir() else [])
            if p.is_dir() and (m := _VERSION.fullmatch(p.name))
        ),
        reverse=True,
    )
    unfinished = []
    for _, run in versions:
        if _recorded_best(run) is None:
            unfinished.append(run.name)
            continue
        if unfinished:
            log.warn(
                f"weights={weights}: skipped {len(unfinished)} newer run(s) with no recorded best checkpoint "
                f"({', '.join(unfinished[:3])}); using {run.name}"
            )
        return _best_checkpoint(run, weights)
    raise LabError(
        f"weights={weights}: no finished {lab_dir.name} run under {lab_dir.parent} (none of its "
        f"{len(versions)} version dirs records a best checkpoint in summary.json); {_HOW_TO_GET}"
    )


def _recorded_best(run: Path) -> str | None:
    try:
        best = json.loads((run / "summary.json").read_text()).get("best_checkpoint")
    except (OSError, ValueError, AttributeError):
        return None
    return best or None


def _best_checkpoint(run: Path, weights: str) -> Path:
    best = _recorded_best(run)
    if best is None:
        raise LabError(
            f"weights={weights}: {run}/summary.json records no best checkpoint (the run did not finish); "
            f"pass a checkpoint file or another run"
        )
    path = Path(best)
    if path.is_file():
        return path
    moved = run / "checkpoints" / path.name  # recorded relative to the working directory of that run, or moved since
    if moved.is_file():
        return moved
    raise LabError(f"weights={weights}: {run}/summary.json names {best}, which does not exist; pass a checkpoint file")


def _imagenet_state_dict() -> dict:
    from torchvision.models import ResNet18_Weights

    url = ResNet18_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not cached.exists() and not network_available("download.pytorch.org"):
        raise LabError(
            f"weights=imagenet needs a download from download.pytorch.org and this machine is offline; "
            f"offline: {_PRETRAIN}"
        )
    return {f"backbone.{k}": v for k, v in ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False).items()}
