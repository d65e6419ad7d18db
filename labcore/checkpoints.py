"""Reading Lightning checkpoints safely (``weights_only=True``): net weights and saved data state."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labcore.errors import LabError


def read_checkpoint(path: str | Path, option: str = "--ckpt_path") -> dict[str, Any]:
    """The checkpoint dict, loaded with ``weights_only=True`` (no code is unpickled).
    ``option`` names the argument that passed the path, for the one-line error."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise LabError(f"no checkpoint at {p}; pass an existing {option}")
    if p.stat().st_size == 0:
        raise LabError(f"{p} is an empty file, not a checkpoint; pass a Lightning .ckpt to {option}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - truncated, not a torch file, or objects weights_only refuses
        # torch's own message advises weights_only=False (running the file's code): never passed on
        why = (
            "it holds Python objects other than tensors and plain values, which are not loaded"
            if isinstance(err, pickle.UnpicklingError)
            else f"truncated, or not a torch file ({type(err).__name__})"
        )
        raise LabError(f"{p} is not a readable checkpoint: {why}; pass a Lightning .ckpt to {option}") from None


def prefixed_weights(state: dict[str, torch.Tensor], prefix: str = "net.") -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def load_net_weights(module: nn.Module, path: str | Path, prefix: str = "net.", option: str = "--ckpt_path") -> None:
    """Load the ``prefix`` entries of a checkpoint's ``state_dict`` into ``module`` (strict:
    a checkpoint of another net or vocabulary is a one-line error)."""
    ckpt = read_checkpoint(path, option)
    state = prefixed_weights(ckpt.get("state_dict", {}), prefix)
    if not state:
        raise LabError(f"{path} holds no {prefix}* weights; pass a checkpoint of a dl-labs run to {option}")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or reshaped:
        raise LabError(
            f"{path} does not fit this net (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"other shapes {reshaped[:3]}); pass a checkpoint of the same net and data to {option}"
        )
    module.load_state_dict(state)


def datamodule_state(path: str | Path, option: str = "--ckpt_path") -> dict[str, Any] | None:
    """The datamodule state Lightning saved in the checkpoint (under the datamodule's class name), or None."""
    ckpt = read_checkpoint(path, option)
    states = [v for k, v in ckpt.items() if isinstance(v, dict) and k.endswith("DataModule") and "lab_data" in v]
    return states[0] if states else None
