"""Callback for benchmarks/peers/run.py: where a `cli.py fit` process spends its time, and when it first
reaches a test accuracy.

Added by the runner as ``--trainer.callbacks+=benchmarks.peers.timing.PhaseTimer`` and driven by environment
variables, so the command is exactly the user's command plus one callback:

- ``DL_LABS_BENCH_OUT``: the JSON file to write (rank 0, at fit end and again at test end);
- ``DL_LABS_BENCH_T0``: ``time.time()`` just before the runner started the process;
- ``DL_LABS_BENCH_TARGET``: a test accuracy; after each training epoch the test split is scored (that time is
  left out of every figure) and the run stops at the first epoch that reaches it.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from typing import Any

import torch
from lightning.pytorch import Callback, Trainer

# Our callbacks that draw (the rest: checkpoints, progress bar, resume state).
_NOT_FIGURES = {"LabModelCheckpoint", "LabProgressBar", "ResumeState", "PredictionWriter", "PhaseTimer"}
_HOOKS = (
    "on_train_epoch_end",
    "on_validation_epoch_end",
    "on_fit_end",
    "on_fit_start",
    "on_train_start",
    "on_test_epoch_end",
    "on_train_batch_end",
    "on_after_backward",
    "on_before_zero_grad",
    "setup",
)


class PhaseTimer(Callback):
    """Wall-clock phases of one fit (+ test) process, written as JSON for the runner."""

    def __init__(self) -> None:
        self.out = os.environ.get("DL_LABS_BENCH_OUT")
        self.t0 = float(os.environ.get("DL_LABS_BENCH_T0", time.time()))
        target = os.environ.get("DL_LABS_BENCH_TARGET")
        self.target = float(target) if target else None
        self.marks: dict[str, float] = {}
        self.sums: dict[str, float] = defaultdict(float)
        self.excluded = 0.0  # seconds spent scoring the test split for the target (not the user's run)
        self.curve: list[dict[str, float]] = []
        self.reached: float | None = None
        self._epoch_start = self._last_batch_end = self._val_start = 0.0
        self._batches_counted = False
        self._phase = "start"  # train | val | after: where figure and checkpoint time is spent

    def _now(self) -> float:
        return time.time()

    def _mark(self, name: str) -> None:
        self.marks.setdefault(name, self._now())

    # --- phases -------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        self._mark(f"setup_{getattr(stage, 'value', stage)}")
        if stage == "fit":
            self._wrap_figures(trainer)
            self._wrap_checkpoint_writes(trainer)

    def on_fit_start(self, trainer, pl_module) -> None:
        self._mark("fit_start")

    def on_train_start(self, trainer, pl_module) -> None:
        self._mark("train_start")
        self._phase = "train"

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = self._now()
        self._batches_counted = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._last_batch_end = self._now()

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            if not self._batches_counted:  # validation runs after the epoch's last batch
                self.sums["train_batches"] += self._now() - self._epoch_start
                self._batches_counted = True
            self._val_start = self._now()
            self._phase = "val"

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.sums["validation"] += self._now() - self._val_start
            self._phase = "train"

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._batches_counted:  # an epoch without validation
            self.sums["train_batches"] += self._last_batch_end - self._epoch_start
            self._batches_counted = True
        if self.target is not None:
            self._score_test(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._mark("train_end")
        self._phase = "after"

    def on_fit_end(self, trainer, pl_module) -> None:
        self._mark("fit_end")
        self._write(trainer)

    def on_test_start(self, trainer, pl_module) -> None:
        self._mark("test_start")

    def on_test_end(self, trainer, pl_module) -> None:
        self._mark("test_end")
        self._write(trainer)

    # --- what the user's callbacks and checkpoints cost ----------------------------------------
    def _wrap_figures(self, trainer: Trainer) -> None:
        for cb in trainer.callbacks:
            if not type(cb).__module__.startswith("callbacks.") or type(cb).__name__ in _NOT_FIGURES:
                continue
            for hook in _HOOKS:
                fn = getattr(type(cb), hook, None)
                if fn is not None and fn is not getattr(Callback, hook):
                    setattr(cb, hook, self._timed("figures", getattr(cb, hook)))

    def _wrap_checkpoint_writes(self, trainer: Trainer) -> None:
        trainer.save_checkpoint = self._timed("checkpoint_writes", trainer.save_checkpoint)

    def _timed(self, key: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = self._now()
            try:
                return fn(*args, **kwargs)
            finally:
                self.sums[f"{key}_{self._phase}"] += self._now() - start

        return timed

    # --- time to a test accuracy --------------------------------------------------------------
    def _score_test(self, trainer: Trainer, pl_module: Any) -> None:
        start = self._now()
        was_training = pl_module.training
        pl_module.eval()
        correct = total = 0
        with torch.no_grad():
            for i, batch in enumerate(trainer.datamodule.test_dataloader()):
                batch = pl_module.transfer_batch_to_device(batch, pl_module.device, 0)
                out = pl_module.predict_step(batch, i)
                correct += int((out["pred"] == out["label"]).sum())
                total += len(out["label"])
        pl_module.train(was_training)
        acc = correct / max(total, 1)
        elapsed = start - self.t0 - self.excluded  # the user's time so far, without the earlier scorings
        self.excluded += self._now() - start
        self.curve.append({"epoch": trainer.current_epoch + 1, "seconds": elapsed, "test_acc": acc})
        if self.reached is None and acc >= self.target:
            self.reached = elapsed
            trainer.should_stop = True

    def _write(self, trainer: Trainer) -> None:
        if not self.out or not trainer.is_global_zero:
            return
        marks = {k: v - self.t0 for k, v in self.marks.items()}
        data = {
            "marks": marks,
            "sums": dict(self.sums),
            "excluded": self.excluded,
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "curve": self.curve,
            "reached": self.reached,
            "target": self.target,
        }
        with open(self.out, "w") as f:
            json.dump(data, f)
