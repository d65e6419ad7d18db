"""Bare Lightning for the benchmarks: a Trainer with nothing attached, fitted with Lightning's own hook dispatch."""

from __future__ import annotations

from typing import Any

import lightning as L

from runtime import hook_dispatch


def fit_bare(module: L.LightningModule, loader: Any, callbacks: list, accelerator: str = "cpu", **limits: Any) -> None:
    """Fit ``module`` on ``loader`` as a user's own LightningModule runs: no logger, bar, checkpoints, summary or
    validation, and stock callback dispatch even inside a ``DL_LABS_FAST_HOOKS=1`` run (``runtime.hook_dispatch``).
    ``limits``: ``max_epochs`` / ``max_steps``."""
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=callbacks,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        **limits,
    )
    with hook_dispatch.lightning_dispatch():
        trainer.fit(module, train_dataloaders=loader)
