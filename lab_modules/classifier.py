"""Generic classification task: any injected net, any modality, torchmetrics metrics."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import CatMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from lab_modules.binary_metrics import choose_threshold, parse_threshold, threshold_metrics
from lab_modules.optim import build_optimizers
from lab_modules.task import LabTask, accepted_inputs, batch_mean
from labcore.checkpoints import load_net_weights
from labcore.errors import LabError


class Classifier(LabTask):
    """Trains ``net`` on batches ``{target_key: labels, **inputs}`` with cross-entropy.

    The net gets the batch entries its ``forward`` names (``image``, ``features``,
    ``input_ids``, ...), so one module serves images, text and tables. Optimizer and
    scheduler are injected (``OptimizerCallable`` / ``LRSchedulerCallable``), so comparing
    optimizers is a one-line config override.

    Args:
        net: the network (``class_path`` in the config); its ``num_classes`` (and input
            shape arguments) are filled from the data by the CLI.
        num_classes / class_names: filled from the data; saved in the checkpoint so that
            ``predict`` can name classes without the training data.
        optimizer / lr_scheduler: injected; ``scheduler_interval`` (``epoch`` or ``step``)
            and ``scheduler_monitor`` (for ReduceLROnPlateau) say how Lightning steps it.
        label_smoothing: cross-entropy label smoothing.
        target_key: the batch key holding the labels.
        binary: two classes with ONE logit per example (``BCEWithLogitsLoss``; probability of
            class 1 = ``sigmoid(logit)``), as the BERT + GRU report's head. Default: one logit per class.
        weights_from: a Lightning checkpoint whose model weights initialise this one (fine-tuning
            a trained lab on new data; loaded with ``weights_only=True``). Unlike ``--ckpt_path``
            it starts a fresh run (new optimizer, epoch 0).
        class_weights: per-class weights of the cross-entropy (filled from the data's ``class_weights``
            under ``imbalance: class_weights``; binary mode: ``pos_weight = w1 / w0``).
        l1: lambda of an L1 penalty ``l1 * sum|w|`` over the net's weight matrices / kernels (not biases),
            added to the training loss (``train/loss`` stays the data loss; the penalty is ``train/l1_penalty``).
        class_metrics: two classes: also log per-class precision / recall / F1, PR-AUC and ROC-AUC
            (``val/precision_<class>``, ``val/pr_auc``, ...; class 1 is the positive class).
        threshold: two classes: predict class 1 when its probability >= a threshold chosen on VALIDATION
            (``best_f1``, ``recall:0.85``) or fixed (``0.5``); it is kept in the checkpoint and applied unchanged
            to test and predict. None: argmax. Implies ``class_metrics``.
    """

    monitor = "val/acc"
    monitor_mode = "max"
    prediction_kind = "classes"

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 10,
        class_names: list[str] | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        label_smoothing: float = 0.0,
        target_key: str = "label",
        binary: bool = False,
        weights_from: str | None = None,
        class_weights: list[float] | None = None,
        l1: float = 0.0,
        class_metrics: bool = False,
        threshold: str | float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "weights_from"])  # weights_from: used once, here
        self.net = net
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.target_key = target_key
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.binary = binary
        if num_classes < 2:  # cross-entropy over one class is always 0: nothing would be learnt
            raise LabError(
                f"the data has only one class ({self.class_names}); a classifier needs two or more: pass data with "
                "at least two classes (--data.init_args.path, or --data.init_args.classes with two names or more)"
            )
        if binary and num_classes != 2:
            raise LabError(f"binary (one-logit) mode needs 2 classes, the data has {num_classes}; set binary: false")
        self.threshold_rule = parse_threshold(threshold)
        self.class_metrics = class_metrics or self.threshold_rule is not None
        if self.class_metrics and num_classes != 2:
            raise LabError(
                f"class_metrics / threshold need 2 classes, the data has {num_classes}; remove them from the model"
            )
        if class_weights is not None and len(class_weights) != num_classes:
            raise LabError(
                f"class_weights has {len(class_weights)} values for {num_classes} classes; pass one per class"
            )
        if l1 < 0:
            raise LabError(f"l1={l1}; pass a penalty weight >= 0")
        self.l1 = l1
        weight = torch.tensor(class_weights, dtype=torch.float) if class_weights is not None else None
        if binary:
            self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=None if weight is None else weight[1:] / weight[0])
        else:
            self.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)
        if self.threshold_rule is not None:
            start = self.threshold_rule[1] if self.threshold_rule[0] == "fixed" else 0.5
            # a buffer: saved in every checkpoint, so test / predict apply the threshold validation chose
            self.register_buffer("decision_threshold", torch.tensor(start))
        if self.class_metrics:  # the positive-class scores of a whole epoch, gathered across ranks
            self.scores = nn.ModuleDict({s: CatMetric() for s in ("val", "test")})
            self.score_targets = nn.ModuleDict({s: CatMetric() for s in ("val", "test")})
            self.epoch_scores: dict[str, tuple[Tensor, Tensor]] = {}  # read by callbacks.BinaryCurves
        self._net_inputs = accepted_inputs(net)
        # With a threshold chosen on validation, the validation accuracy, F1 and confusion matrix are filled at
        # the epoch's end from every rank's gathered scores at the threshold just chosen (the one logged as
        # val/threshold and saved): already global, so they must not be summed over ranks again.
        val_sync = self.threshold_rule is None

        def metrics(stage: str, sync: bool = True) -> MetricCollection:
            return MetricCollection(
                {
                    "acc": MulticlassAccuracy(num_classes, average="micro", sync_on_compute=sync),
                    "f1": MulticlassF1Score(num_classes, average="macro", sync_on_compute=sync),
                },
                prefix=f"{stage}/",
            )

        # Training loss and accuracy only (macro F1 on training batches teaches nothing and costs every step).
        # The loss mean is weighted by batch size, and a NaN loss shows as NaN.
        self.train_loss = batch_mean()
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.val_metrics = metrics("val", val_sync)
        self.test_metrics = metrics("test")
        # Read by the confusion-matrix callback at the end of each val/test epoch.
        self.val_confmat = MulticlassConfusionMatrix(num_classes, sync_on_compute=val_sync)
        self.test_confmat = MulticlassConfusionMatrix(num_classes)
        if weights_from:
            load_net_weights(self.net, weights_from, option="--model.init_args.weights_from")

    def forward(self, **inputs: Tensor) -> Tensor:
        if self._net_inputs is not None:
            inputs = {k: v for k, v in inputs.items() if k in self._net_inputs}
        return self.net(**inputs)

    def _step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor, Tensor]:
        target = batch[self.target_key]
        logits = self(**{k: v for k, v in batch.items() if k != self.target_key})
        loss, preds = self._loss_and_preds(logits, target)
        if self.class_metrics and stage in ("val", "test"):
            self.scores[stage].update(self.probabilities(logits.detach())[:, 1])
            self.score_targets[stage].update(target)
        if stage == "train":
            # epoch means logged at the epoch's end (on_train_epoch_end); the step value under its own name
            self.train_loss.update(loss.detach(), weight=target.shape[0])
            self.train_acc.update(preds, target)
            self.log_step("train/loss_step", loss.detach(), prog_bar=True)
        else:
            # sync_dist: the mean over every rank's examples (early stopping and ReduceLROnPlateau follow val/loss)
            self.log(f"{stage}/loss", loss, on_epoch=True, prog_bar=True, batch_size=target.shape[0], sync_dist=True)
            if not self._threshold_chosen_at_epoch_end(stage):
                metrics = getattr(self, f"{stage}_metrics")
                metrics.update(preds, target)
                self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=True)
        return loss, preds, target

    def _threshold_chosen_at_epoch_end(self, stage: str) -> bool:
        """Whether this stage's thresholded metrics wait for the epoch's end (validation with a threshold rule)."""
        return stage == "val" and self.threshold_rule is not None

    def _loss_and_preds(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        if not self.binary:
            return self.loss_fn(logits, target), self._predict(logits)
        logit = self._single_logit(logits)
        return self.loss_fn(logit, target.float()), self._predict(logits)

    def _predict(self, logits: Tensor) -> Tensor:
        """Class ids: argmax, or class 1 where its probability reaches the decision threshold."""
        if self.threshold_rule is not None:
            return (self.probabilities(logits)[:, 1] >= self.decision_threshold).long()
        if self.binary:
            return (self._single_logit(logits) > 0).long()
        return logits.argmax(dim=-1)

    @staticmethod
    def _single_logit(logits: Tensor) -> Tensor:
        if logits.dim() == 2 and logits.shape[-1] == 1:
            return logits[:, 0]
        if logits.dim() != 1:
            raise LabError(
                f"binary mode needs one logit per example, the net gives shape {tuple(logits.shape)}; "
                f"set the net's output to 1 (e.g. binary: true) or the model's binary: false"
            )
        return logits

    def probabilities(self, logits: Tensor) -> Tensor:
        """N x num_classes class probabilities (``[1 - p, p]`` in binary mode)."""
        if not self.binary:
            return logits.softmax(dim=-1)
        p = torch.sigmoid(self._single_logit(logits))
        return torch.stack([1 - p, p], dim=-1)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._step(batch, "train")[0]
        if self.l1 > 0:
            penalty = self.l1 * sum(p.abs().sum() for p in self.net.parameters() if p.requires_grad and p.dim() > 1)
            n = batch[self.target_key].shape[0]
            self.log("train/l1_penalty", penalty, on_step=False, on_epoch=True, batch_size=n)
            loss = loss + penalty
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        _, preds, target = self._step(batch, "val")
        if not self._threshold_chosen_at_epoch_end("val"):
            self.val_confmat.update(preds, target)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        _, preds, target = self._step(batch, "test")
        self.test_confmat.update(preds, target)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        logits = self(**{k: v for k, v in batch.items() if k != self.target_key})
        probs = self.probabilities(logits)
        out = {"pred": self._predict(logits), "probs": probs}
        if self.target_key in batch:
            out["label"] = batch[self.target_key]
        return out

    def confusion_matrix(self, stage: str) -> MulticlassConfusionMatrix | None:
        """The ``val`` / ``test`` confusion matrix of the current epoch (reset when the epoch starts)."""
        if self._threshold_chosen_at_epoch_end(stage):
            # callbacks.ConfusionMatrixFigure asks before this module's on_validation_epoch_end has run
            self._class_metrics_end(stage)
        return {"val": self.val_confmat, "test": self.test_confmat}.get(stage)

    def on_train_epoch_end(self) -> None:
        # metric objects: Lightning computes them (over every rank) after this hook and resets them
        self.log_dict({"train/loss": self.train_loss, "train/acc": self.train_acc}, prog_bar=True)

    def on_validation_epoch_start(self) -> None:
        self.val_confmat.reset()

    def on_test_epoch_start(self) -> None:
        self.test_confmat.reset()

    def on_validation_epoch_end(self) -> None:
        self._class_metrics_end("val")

    def on_test_epoch_end(self) -> None:
        self._class_metrics_end("test")

    def _class_metrics_end(self, stage: str) -> None:
        """Per-class metrics and AUCs of the whole epoch; on validation, first choose the threshold. Once per
        epoch: a second call finds the scores already read and reset."""
        if not self.class_metrics:
            return
        scores, targets = self.scores[stage], self.score_targets[stage]
        if not scores.update_called:
            return
        s, t = scores.compute().float(), targets.compute().long()  # every rank's rows
        scores.reset()
        targets.reset()
        self.epoch_scores[stage] = (s.cpu(), t.cpu())
        threshold = 0.5
        if self.threshold_rule is not None:
            if stage == "val" and not self.trainer.sanity_checking:
                chosen = choose_threshold(self.threshold_rule, s, t)
                if chosen is not None:
                    self.decision_threshold.fill_(chosen)
            threshold = float(self.decision_threshold)
        values = threshold_metrics(s, t, threshold, self.class_names)
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()}, on_epoch=True)  # already global
        if self._threshold_chosen_at_epoch_end(stage):
            preds = (s >= threshold).long()
            self.val_metrics.update(preds, t)
            self.val_confmat.update(preds, t)
            self.log_dict(self.val_metrics, on_epoch=True, prog_bar=True)

    def configure_optimizers(self) -> Any:
        steps = (
            self.trainer.estimated_stepping_batches
            if self.hparams.scheduler_interval == "step"
            else self.trainer.max_epochs
        )
        # Only trainable parameters: frozen ones join later as param groups (callbacks.PhasedFinetuning).
        params = [p for p in self.parameters() if p.requires_grad]
        return build_optimizers(
            params,
            self.optimizer,
            self.lr_scheduler,
            self.hparams.scheduler_interval,
            self.hparams.scheduler_monitor,
            steps,
        )
