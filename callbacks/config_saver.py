"""Saves the resolved config in the run directory and sends it to W&B."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}``, with everything not JSON-like turned into text."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = v
        else:
            out[key] = str(v)
    return out


class LabSaveConfigCallback(SaveConfigCallback):
    """Every run gets a directory of its own, claimed atomically by ``cli.py``, so
    ``config.yaml`` can never clobber another run's; writing it again is only the same run's
    test phase (``--test_after_fit``, which under ``ddp_spawn`` runs in fresh processes).
    W&B gets the full resolved config, not just the module's hparams."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overwrite = True

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update(flatten(self.config.as_dict()), allow_val_change=True)
