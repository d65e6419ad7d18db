"""Two-phase transfer learning: head only, then unfreeze named blocks with their own LR;
test accuracy and wall time measured after each phase."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BaseFinetuning
from lightning.pytorch.utilities import rank_zero_info
from torch.optim import Optimizer
from torchmetrics.classification import MulticlassAccuracy

from callbacks.layers import named_layer


class PhasedFinetuning(BaseFinetuning):
    """Phase 1 (``head_epochs`` epochs): everything but ``head`` frozen (BatchNorm included,
    ``train_bn=False``), the optimizer's LR trains the head. Phase 2 (from epoch
    ``head_epochs``): the modules in ``unfreeze`` (e.g. ``net.backbone.layer3``,
    ``net.backbone.layer4``) join the optimizer as a new param group with ``backbone_lr``
    (discriminative LRs: the head keeps the optimizer's LR).

    At the end of each phase the model's accuracy on the datamodule's test split is measured
    (the module is not changed) and logged as ``phase1/test_acc``, ``phase2/test_acc`` with the
    phase's wall time ``phase1/seconds``..., and written to ``summary.json`` under ``phases``.
    With ``freeze=False`` nothing is frozen (the from-scratch baseline) but the same
    measurements are taken, so the tables line up.
    The module's ``configure_optimizers`` must skip frozen parameters (``lab_modules.Classifier`` does).
    """

    def __init__(self, head: str = "net.backbone.fc", unfreeze: list[str] = ["net.backbone.layer3", "net.backbone.layer4"],  # noqa: B006
                 head_epochs: int = 5, backbone_lr: float = 1e-4, freeze: bool = True, target_key: str = "label") -> None:
        super().__init__()
        self.head, self.unfreeze, self.head_epochs = head, list(unfreeze), head_epochs
        self.backbone_lr, self.freeze_backbone, self.target_key = backbone_lr, freeze, target_key
        self.phases: dict[str, dict] = {}
        self._phase_start: float | None = None

    # --- freezing ----------------------------------------------------------------------------
    def freeze_before_training(self, pl_module: LightningModule) -> None:
        if not self.freeze_backbone:
            return
        head = named_layer(pl_module, self.head)
        for name in self.unfreeze:
            named_layer(pl_module, name)  # fail early on a wrong name
        self.freeze(pl_module, train_bn=False)
        self.make_trainable(head)

    def finetune_function(self, pl_module: LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if self.freeze_backbone and epoch == self.head_epochs:
            modules = [named_layer(pl_module, name) for name in self.unfreeze]
            self.unfreeze_and_add_param_group(modules, optimizer, lr=self.backbone_lr, train_bn=True)
            rank_zero_info(f"[dl-labs] phase 2: unfroze {', '.join(self.unfreeze)} at lr {self.backbone_lr}")

    # --- per-phase measurements --------------------------------------------------------------
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == 0 or (trainer.current_epoch == self.head_epochs and self._phase_start is None):
            self._phase_start = time.perf_counter()
        super().on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = epoch >= trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else False
        if epoch == self.head_epochs or (last and epoch > self.head_epochs):
            self._end_phase(trainer, pl_module, "phase1" if epoch == self.head_epochs else "phase2", epoch)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # stopped early (max_steps, early stopping, limits): close the open phase
        phase = "phase1" if "phase1" not in self.phases else "phase2"
        if self._phase_start is not None and phase not in self.phases:
            self._end_phase(trainer, pl_module, phase, trainer.current_epoch, log=False)
        self._write_summary(trainer)

    def _end_phase(self, trainer: Trainer, pl_module: LightningModule, phase: str, epochs: int, log: bool = True) -> None:
        seconds = time.perf_counter() - (self._phase_start or time.perf_counter())
        acc = self.test_accuracy(trainer, pl_module)
        self.phases[phase] = {"epochs_done": epochs, "seconds": round(seconds, 2), "test_acc": acc,
                              "trainable_params": sum(p.numel() for p in pl_module.parameters() if p.requires_grad)}
        self._phase_start = None
        if log:
            pl_module.log_dict({f"{phase}/seconds": seconds, **({f"{phase}/test_acc": acc} if acc is not None else {})})
        rank_zero_info(f"[dl-labs] {phase} done after epoch {epochs}: test acc {acc}, {seconds:.1f}s")

    @torch.no_grad()
    def test_accuracy(self, trainer: Trainer, pl_module: LightningModule) -> float | None:
        dm = trainer.datamodule
        if dm is None:
            return None
        loader = dm.test_dataloader()
        metric = MulticlassAccuracy(len(pl_module.class_names), average="micro").to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        try:
            limit = trainer.limit_test_batches
            for i, batch in enumerate(loader):
                if isinstance(limit, int) and i >= limit:
                    break
                batch = {k: v.to(pl_module.device) for k, v in batch.items()}
                target = batch.pop(self.target_key)
                metric.update(pl_module(**batch).argmax(-1), target)
        finally:
            pl_module.train(was_training)
        return float(metric.compute()) if metric.update_called else None

    def _write_summary(self, trainer: Trainer) -> None:
        if not trainer.is_global_zero or not trainer.log_dir:
            return
        path = Path(trainer.log_dir) / "summary.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**old, "phases": self.phases}, indent=2))

    def state_dict(self) -> dict:
        return {**super().state_dict(), "phases": self.phases}

    def load_state_dict(self, state_dict: dict) -> None:
        self.phases = state_dict.pop("phases", {})
        super().load_state_dict(state_dict)
