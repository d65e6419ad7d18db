"""Writes ``predict`` outputs as CSV in the run directory."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info


class PredictionWriter(BasePredictionWriter):
    """``predictions.csv``: row index, predicted class (name), its probability and, when
    the data has labels, the true class. One file per rank under DDP. A module with
    ``write_predictions(predictions, run_dir, suffix) -> list[Path]`` writes its own files
    (generated images, masks) instead."""

    def __init__(self) -> None:
        super().__init__(write_interval="epoch")

    def write_on_epoch_end(self, trainer: Trainer, pl_module: LightningModule, predictions: Sequence[Any],
                           batch_indices: Sequence[Any] | None) -> None:
        if not predictions or not isinstance(predictions[0], dict):
            return
        suffix = "" if trainer.world_size == 1 else f"_rank{trainer.global_rank}"
        if hasattr(pl_module, "write_predictions"):  # image outputs (samples, masks): the module knows how
            paths = pl_module.write_predictions(predictions, Path(trainer.log_dir), suffix)
            rank_zero_info(f"[dl-labs] wrote predictions: {', '.join(str(p) for p in paths)}")
            return
        names = list(getattr(pl_module, "class_names", []))
        rows = {k: torch.cat([p[k].cpu() for p in predictions]) for k in predictions[0]}
        path = Path(trainer.log_dir) / f"predictions{suffix}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        correct = 0
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", "pred", "pred_name", "prob"] + (["label", "label_name"] if "label" in rows else []))
            for i, pred in enumerate(rows["pred"].tolist()):
                row = [i, pred, names[pred] if pred < len(names) else pred, f"{rows['probs'][i, pred].item():.4f}"]
                if "label" in rows:
                    label = int(rows["label"][i])
                    correct += label == pred
                    row += [label, names[label] if label < len(names) else label]
                w.writerow(row)
        n = len(rows["pred"])
        acc = f", accuracy {correct / n:.4f}" if "label" in rows and n else ""
        rank_zero_info(f"[dl-labs] wrote {n} predictions to {path}{acc}")
