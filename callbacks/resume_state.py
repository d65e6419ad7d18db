"""RNG and running-metric states in every checkpoint, restored at the first training batch of a resumed run."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from runtime.resume_state import capture, metric_states, restore, restore_metric_states


class ResumeState(Callback):
    """What a mid-epoch resume needs beyond Lightning's checkpoint: the RNG states and, in a checkpoint
    written mid-epoch, the accumulated torchmetrics states (the epoch's running train loss / accuracy).

    Both are taken when the checkpoint is written (for a mid-epoch checkpoint, the state the next batch
    starts from) and restored at the first training batch after ``--ckpt_path``, i.e. after everything a
    restart does differently (building loaders, the sanity check). The CLI puts this callback first so no
    other ``on_train_batch_start`` draws random numbers before it. Metric states are not taken at an
    epoch's end: the epoch-end hooks reset them after the checkpoint is written.

    Under DDP the checkpoint holds rank 0's states and every rank restores them (``seed_everything``
    gives all ranks the same RNG states; metric states are per rank, so a DDP resume is exact for the
    weights, not for the epoch's running train metrics).
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None
        self._module: LightningModule | None = None
        self._trainer: Trainer | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._trainer, self._module = trainer, pl_module

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rng": capture()}
        trainer = self._trainer
        if trainer is not None and self._module is not None and trainer.state.fn == "fit":
            if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
                state["metrics"] = metric_states(self._module)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict if state_dict else None

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is not None:
            restore(self._pending["rng"])
            if "metrics" in self._pending:
                restore_metric_states(pl_module, self._pending["metrics"])
            self._pending = None
