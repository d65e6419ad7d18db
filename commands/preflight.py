"""Checks ``cli.py`` runs before Lightning would fail deep inside: trainer settings and checkpoints.

Each raises ``LabError`` with the option at fault and what to pass instead, so a bad run ends in
one line before any data is read or any loop starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from commands.explain import lab_error_cause, one_line
from labcore import log
from labcore.checkpoints import read_checkpoint
from labcore.errors import LabError

# --ckpt_path values Lightning resolves itself (not files).
SPECIAL_CKPT = {"last", "best", "hpc"}
LIGHTNING_KEYS = ("pytorch-lightning_version", "state_dict")


def check_trainer(trainer: Any) -> None:
    """Accelerator availability and epoch / step counts of the ``trainer`` config namespace."""
    accelerator = str(trainer.get("accelerator") or "auto").lower()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise LabError(
            f"--trainer.accelerator {accelerator}: this machine has no usable GPU (torch.cuda.is_available() is "
            "False); pass --trainer.accelerator cpu (or auto)"
        )
    if accelerator == "mps" and not (torch.backends.mps.is_available()):
        raise LabError("--trainer.accelerator mps: MPS is not available here; pass --trainer.accelerator cpu (or auto)")
    for key in ("max_epochs", "max_steps"):
        value = trainer.get(key)
        if isinstance(value, int) and value < -1:
            raise LabError(f"--trainer.{key} {value}: pass a number >= 0, or -1 for no limit")
    min_epochs = trainer.get("min_epochs")
    if isinstance(min_epochs, int) and min_epochs < 0:
        raise LabError(f"--trainer.min_epochs {min_epochs}: pass a number >= 0")
    warn_cpu_oversubscription(accelerator, trainer.get("devices"))


def warn_cpu_oversubscription(accelerator: str, devices: Any) -> None:
    """CPU DDP with more processes than cores runs, but each step waits on processes sharing a core: say so."""
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    try:
        count = int(devices) if not isinstance(devices, (list, tuple)) else len(devices)
    except (TypeError, ValueError):  # "auto" and the like: Lightning picks one process on CPU
        return
    cores = os.cpu_count() or 1
    if on_cpu and count > cores:
        log.warn(
            f"--trainer.devices {devices} on CPU starts {count} processes on a machine with {cores} CPU cores: "
            f"they share cores and each step waits for the slowest; pass --trainer.devices {cores} or fewer"
        )


def check_checkpoint_settings(parser: Any, config: Any, subcommand: str, ckpt: dict[str, Any], path: str) -> None:
    """The model settings saved in the checkpoint (``hyper_parameters``, which LightningCLI merges into the config
    next) must parse against this lab's config: else the checkpoint is another lab's."""
    hparams = dict(ckpt.get("hyper_parameters") or {})
    hparams.pop("_instantiator", None)
    if not hparams:
        return
    if "_class_path" in hparams:  # as LightningCLI reads it
        hparams = {"class_path": hparams.pop("_class_path"), "dict_kwargs": hparams}
    try:
        parser.parse_object({subcommand: {"model": hparams}}, config.clone())
    except Exception as err:  # noqa: BLE001 - jsonargparse rejected the saved settings: another lab's checkpoint
        if lab_error_cause(err) is not None:
            raise
        raise LabError(
            f"{path}: the model settings saved in it do not fit this lab's config ({one_line(err)[:300]}); "
            "pass a checkpoint of this lab to --ckpt_path, or the config it was trained with"
        ) from None


def check_checkpoint_file(path: str | None, data_class_path: str | None) -> dict[str, Any] | None:
    """The checkpoint at ``--ckpt_path`` read safely (``weights_only=True``): it must exist, load, be a
    Lightning checkpoint, and hold the data state of this lab's datamodule class if it holds any."""
    if not path or (str(path) in SPECIAL_CKPT and not Path(str(path)).exists()) or str(path).startswith("registry"):
        return None
    p = Path(str(path)).expanduser()
    if p.is_dir():
        raise LabError(f"--ckpt_path {p} is a folder; pass a .ckpt file (e.g. {p}/checkpoints/last.ckpt)")
    ckpt = read_checkpoint(p, "--ckpt_path")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in LIGHTNING_KEYS):
        found = sorted(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise LabError(
            f"{p} is not a Lightning checkpoint (no {' / '.join(LIGHTNING_KEYS)}; it holds {found}); pass a .ckpt "
            "that a dl-labs run wrote (runs/<lab>/version_N/checkpoints/) to --ckpt_path"
        )
    mine = (data_class_path or "").rpartition(".")[2]
    theirs = [k for k, v in ckpt.items() if k.endswith("DataModule") and isinstance(v, dict) and "lab_data" in v]
    if mine and theirs and mine not in theirs:
        raise LabError(
            f"{p} is a checkpoint of another lab (its data is {theirs[0]}, this config's is {mine}); pass a "
            "checkpoint of this lab to --ckpt_path, or the config it was trained with"
        )
    return ckpt


def check_weights_fit(model: torch.nn.Module, ckpt: dict[str, Any], path: str) -> None:
    """The checkpoint's weights fit ``model`` (names and shapes), as Lightning's strict loading demands."""
    if not getattr(model, "strict_loading", True):
        return
    state = ckpt.get("state_dict") or {}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or reshaped):
        return
    parts = [
        f"{what} {names[:3]}{' ...' if len(names) > 3 else ''}"
        for what, names in (("missing", missing), ("unexpected", unexpected), ("other shapes", reshaped))
        if names
    ]
    net = getattr(model, "net", None)
    what = (
        f"{type(model).__name__} with {type(net).__name__}"
        if isinstance(net, torch.nn.Module)
        else type(model).__name__
    )
    raise LabError(
        f"{path} holds the weights of another net or lab ({'; '.join(parts)}); pass a checkpoint of this lab and "
        f"net ({what}) to --ckpt_path, or the config it was trained with"
    )
