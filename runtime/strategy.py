"""The DDP strategy a task module asks for, chosen by Lightning's public strategy names."""

from __future__ import annotations

from typing import Any

# Lightning registers a ``<name>_find_unused_parameters_true`` twin of each of these DDP strategies.
DDP_NAMES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")


def for_unused_parameters(strategy: Any, model: Any) -> Any:
    """``strategy`` with DistributedDataParallel told to find unused parameters when ``model`` says its backward
    passes leave some out (``LabTask.ddp_find_unused_parameters``: a GAN's discriminator step never reaches the
    generator). A DDP name becomes its registered ``_find_unused_parameters_true`` twin; anything else (a
    ``DDPStrategy`` the config builds with its own arguments, ``auto``, FSDP) is returned as given."""
    if getattr(model, "ddp_find_unused_parameters", False) and isinstance(strategy, str) and strategy in DDP_NAMES:
        return f"{strategy}_find_unused_parameters_true"
    return strategy
