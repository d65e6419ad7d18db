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
from torch import nn
from torch.optim import Optimizer

from callbacks.layers import class_probabilities, named_layer
from lab_modules.nets.transfer import TransferResNet18
from labcore.errors import LabError

# The BatchNorm layers a frozen block keeps in eval mode (torch's public classes; their common base is private).
BATCH_NORMS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
)


class PhasedFinetuning(BaseFinetuning):
    """Phase 1 (``head_epochs`` epochs): everything but ``head`` frozen, the optimizer's LR trains
    the head. Frozen BatchNorm layers are really frozen: kept in eval mode, so they normalise with
    the pretrained running statistics and never update them. Phase 2 (from epoch ``head_epochs``):
    the modules in ``unfreeze`` (e.g. ``net.backbone.layer3``, ``net.backbone.layer4``, their
    BatchNorm included) join the optimizer as ONE new param group with ``backbone_lr``
    (discriminative LRs: the head keeps the optimizer's LR).

    Resuming (``--ckpt_path``, also mid-epoch) at any epoch >= ``head_epochs`` is phase 2 again: the
    ``unfreeze`` modules are trainable and in the optimizer once (Lightning restores the saved param
    groups in ``on_fit_start``; the group is added only where it is missing).

    At the end of each phase the model's accuracy on the datamodule's test split is measured (from
    ``pl_module.probabilities``, so one-logit binary classifiers count right; the module is not
    changed) and logged as ``phase1/test_acc``, ``phase2/test_acc`` with the phase's wall time
    ``phase1/seconds``..., and written to ``summary.json`` under ``phases``. A phase interrupted and
    resumed is timed from the resume (``resumed_at_epoch`` says so). With ``freeze=False`` nothing
    is frozen (the from-scratch baseline) but the same measurements are taken, so the tables line
    up. ``freeze=True`` on a net with random weights (``weights_source`` None) is refused: freezing
    a random backbone is not transfer learning. The module's ``configure_optimizers`` must skip
    frozen parameters (``lab_modules.Classifier`` does).
    """

    def __init__(
        self,
        head: str = "net.backbone.fc",
        unfreeze: list[str] = ["net.backbone.layer3", "net.backbone.layer4"],  # noqa: B006
        head_epochs: int = 5,
        backbone_lr: float = 1e-4,
        freeze: bool = True,
        target_key: str = "label",
    ) -> None:
        super().__init__()
        self.head, self.unfreeze, self.head_epochs = head, list(unfreeze), head_epochs
        self.backbone_lr, self.freeze_backbone, self.target_key = backbone_lr, freeze, target_key
        self.phases: dict[str, dict] = {}
        self._phase_start: float | None = None
        self._resumed_at: int | None = None
        self._frozen_bn: list[nn.Module] = []

    # --- freezing ----------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        net = getattr(pl_module, "net", None)  # the Classifier's injected net
        if stage == "fit" and self.freeze_backbone and isinstance(net, TransferResNet18) and net.weights_source is None:
            raise LabError(
                "PhasedFinetuning freeze=true on a net with random weights (weights: null): freezing a "
                "random backbone is not transfer learning; pass pretrained weights "
                "(--model.init_args.net.init_args.weights) or, for the from-scratch baseline, "
                "--trainer.callbacks.init_args.freeze=false"
            )
        super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: LightningModule) -> None:
        if not self.freeze_backbone:
            return
        head = named_layer(pl_module, self.head)
        for name in self.unfreeze:
            named_layer(pl_module, name)  # fail early on a wrong name
        self.freeze(pl_module, train_bn=False)
        self.make_trainable(head)
        in_head = {id(m) for m in head.modules()}
        self._frozen_bn = [m for m in pl_module.modules() if isinstance(m, BATCH_NORMS) and id(m) not in in_head]

    def finetune_function(self, pl_module: LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if self.freeze_backbone and epoch >= self.head_epochs:
            self._unfreeze(pl_module, optimizer, epoch)

    def _unfreeze(self, pl_module: LightningModule, optimizer: Optimizer, epoch: int) -> None:
        """Phase 2, idempotent: the ``unfreeze`` modules trainable and in ``optimizer`` exactly once."""
        modules = [named_layer(pl_module, name) for name in self.unfreeze]
        was_frozen = any(True for _ in self.filter_params(modules, train_bn=True, requires_grad=False))
        self.make_trainable(modules)
        # On resume BaseFinetuning.on_fit_start has already put the saved groups back: add only what is missing.
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        missing = [p for p in self.filter_params(modules, train_bn=True) if id(p) not in held]
        if missing:
            optimizer.add_param_group({"params": missing, "lr": self.backbone_lr})
        inside = {id(m) for module in modules for m in module.modules()}
        for bn in self._frozen_bn:
            if id(bn) in inside:
                bn.train(pl_module.training)
        self._frozen_bn = [bn for bn in self._frozen_bn if id(bn) not in inside]
        if was_frozen:
            how = "resumed in phase 2" if epoch > self.head_epochs else "phase 2"
            rank_zero_info(f"[dl-labs] {how}: unfroze {', '.join(self.unfreeze)} at lr {self.backbone_lr}")

    def _eval_frozen_bn(self) -> None:
        # model.train() (Lightning, this callback's accuracy pass, user code) puts every layer back in training
        # mode, where BatchNorm normalises with the batch's statistics; re-applied before every training batch.
        for bn in self._frozen_bn:
            if bn.training:
                bn.eval()

    # --- Lightning hooks -----------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # The checkpoint's epoch is known from here on. A resume, mid-epoch too (then on_train_epoch_start is
        # not called for that epoch), continues in the phase it stopped in; its time is measured from now.
        self._phase_start = time.perf_counter()
        self._resumed_at = trainer.current_epoch if trainer.current_epoch > 0 else None
        for opt_idx, optimizer in enumerate(trainer.optimizers):
            groups = len(optimizer.param_groups)
            self.finetune_function(pl_module, trainer.current_epoch, optimizer)
            self._store(pl_module, opt_idx, groups, optimizer.param_groups)
        self._eval_frozen_bn()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._phase_start is None:
            self._phase_start = time.perf_counter()
        super().on_train_epoch_start(trainer, pl_module)
        self._eval_frozen_bn()

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        self._eval_frozen_bn()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = epoch >= trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else False
        if epoch == self.head_epochs or (last and epoch > self.head_epochs):
            self._end_phase(trainer, pl_module, "phase1" if epoch == self.head_epochs else "phase2", epoch)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for bn in self._frozen_bn:  # leave the module in one mode, as it came
            bn.train(pl_module.training)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # stopped early (max_steps, early stopping, limits): close the open phase
        phase = "phase1" if trainer.current_epoch < self.head_epochs else "phase2"
        if self._phase_start is not None:
            self._end_phase(trainer, pl_module, phase, trainer.current_epoch, log=False)
        self._write_summary(trainer)

    # --- per-phase measurements --------------------------------------------------------------
    def _end_phase(
        self, trainer: Trainer, pl_module: LightningModule, phase: str, epochs: int, log: bool = True
    ) -> None:
        seconds = time.perf_counter() - self._phase_start if self._phase_start is not None else None
        acc = self.test_accuracy(trainer, pl_module)
        self.phases[phase] = {
            "epochs_done": epochs,
            "seconds": None if seconds is None else round(seconds, 3),
            "test_acc": acc,
            "trainable_params": sum(p.numel() for p in pl_module.parameters() if p.requires_grad),
        }
        if self._resumed_at is not None:
            self.phases[phase]["resumed_at_epoch"] = self._resumed_at  # seconds cover the resumed part only
        self._phase_start, self._resumed_at = None, None
        if log:
            values = {
                **({f"{phase}/seconds": seconds} if seconds is not None else {}),
                **({f"{phase}/test_acc": acc} if acc is not None else {}),
            }
            pl_module.log_dict(values)
        took = "" if seconds is None else f", {seconds:.1f}s"
        rank_zero_info(f"[dl-labs] {phase} done after epoch {epochs}: test acc {acc}{took}")

    @torch.no_grad()
    def test_accuracy(self, trainer: Trainer, pl_module: LightningModule) -> float | None:
        """Accuracy on the datamodule's test split (``limit_test_batches`` batches when an int)."""
        dm = trainer.datamodule
        if dm is None:
            return None
        loader = dm.test_dataloader()
        modes = [(m, m.training) for m in pl_module.modules()]  # per layer: frozen BatchNorm stays in eval
        pl_module.eval()
        correct = total = 0
        try:
            limit = trainer.limit_test_batches
            for i, batch in enumerate(loader):
                if isinstance(limit, int) and i >= limit:
                    break
                batch = {k: v.to(pl_module.device) for k, v in batch.items()}
                target = batch.pop(self.target_key)
                pred = class_probabilities(pl_module, batch).argmax(-1)
                correct += int((pred == target).sum())
                total += target.numel()
        finally:
            for module, mode in modes:
                module.training = mode
        return correct / total if total else None

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
        state_dict = dict(state_dict)
        self.phases = state_dict.pop("phases", {})
        super().load_state_dict(state_dict)
