"""Writes ``predict`` outputs into the run directory, by the task module's ``prediction_kind``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from callbacks.image_grids import save_image_batch
from labcore.errors import LabError

if TYPE_CHECKING:
    from lab_modules.task import LabTask


class PredictionWriter(BasePredictionWriter):
    """Writes what ``predict_step`` returned (dicts of tensors, batch first) as
    ``pl_module.prediction_kind`` says (see ``lab_modules.task.LabTask``):

    - ``classes``: ``predictions.csv``: row index, predicted class (and its name from
      ``class_names``), its probability and, when the data has labels, the true class;
    - ``images``: ``predictions.pt``, every key concatenated over batches with 4-d float images
      (in [0, 1]) stored as uint8 0..255, and ``predictions.png``, a grid of the first ``grid_n``
      images under ``prediction_grid_key``;
    - ``boxes``: ``predictions.csv``, one row per detected box (image index, class id and name, score,
      x1, y1, x2, y2), and ``predictions.png``, a grid of the first ``grid_n`` images under
      ``prediction_grid_key`` (boxes drawn);
    - ``values``: ``predictions.csv``: row index, then ``pred_<name>`` (and ``target_<name>``,
      ``baseline_<name>`` where given) per output column named by ``target_names``;
    - ``tensors``: ``predictions.pt``, every key concatenated over batches as is;
    - ``texts``: ``predictions.tsv``, one column per key (lists of strings, e.g. translations).

    One file set per rank under DDP (``predictions_rank<R>.*``).
    """

    def __init__(self, grid_n: int = 64) -> None:
        super().__init__(write_interval="epoch")
        self.grid_n = grid_n

    def write_on_epoch_end(
        self, trainer: Trainer, pl_module: LabTask, predictions: Sequence[Any], batch_indices: Sequence[Any] | None
    ) -> None:
        if predictions and isinstance(predictions[0], list):  # several predict dataloaders: one sequence
            predictions = [p for per_loader in predictions for p in per_loader]
        if not predictions or not isinstance(predictions[0], dict):
            return
        suffix = "" if trainer.world_size == 1 else f"_rank{trainer.global_rank}"
        run_dir = Path(trainer.log_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        kind = pl_module.prediction_kind
        if kind == "classes":
            write_class_predictions(predictions, run_dir / f"predictions{suffix}.csv", list(pl_module.class_names))
        elif kind == "images":
            paths = write_image_predictions(predictions, run_dir, suffix, pl_module.prediction_grid_key, self.grid_n)
            rank_zero_info(f"[dl-labs] wrote predictions: {', '.join(str(p) for p in paths)}")
        elif kind == "values":
            write_value_predictions(predictions, run_dir / f"predictions{suffix}.csv", list(pl_module.target_names))
        elif kind == "boxes":
            paths = write_box_predictions(
                predictions, run_dir, suffix, list(pl_module.class_names), pl_module.prediction_grid_key, self.grid_n
            )
            rank_zero_info(f"[dl-labs] wrote predictions: {', '.join(str(p) for p in paths)}")
        elif kind == "tensors":
            path = run_dir / f"predictions{suffix}.pt"
            torch.save(concatenate(predictions), path)
            rank_zero_info(f"[dl-labs] wrote predictions: {path}")
        elif kind == "texts":
            write_text_predictions(predictions, run_dir / f"predictions{suffix}.tsv")
        else:
            kinds = "'classes', 'images', 'boxes', 'values', 'tensors' or 'texts'"
            raise LabError(f"{type(pl_module).__name__}.prediction_kind={kind!r}; use {kinds}")


def concatenate(predictions: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Every key's tensors concatenated over batches, on the CPU."""
    return {k: torch.cat([p[k].detach().cpu() for p in predictions]) for k in predictions[0]}


def write_class_predictions(predictions: Sequence[dict[str, Tensor]], path: Path, names: list[str]) -> Path:
    """``pred`` (N), ``probs`` (N x C) and optional ``label`` (N) -> one CSV row per example."""
    rows = concatenate(predictions)
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
    return path


def write_value_predictions(predictions: Sequence[dict[str, Tensor]], path: Path, names: list[str]) -> Path:
    """``pred`` (N x out) and optional ``target`` / ``baseline`` (N x out) -> one CSV row per example."""
    rows = {k: v.reshape(v.shape[0], -1) for k, v in concatenate(predictions).items()}
    keys = [k for k in ("pred", "target", "baseline") if k in rows]
    out = rows["pred"].shape[1]
    names = names if len(names) == out else [f"y{i}" for i in range(out)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index"] + [f"{k}_{name}" for k in keys for name in names])
        for i in range(rows["pred"].shape[0]):
            w.writerow([i] + [f"{v:.6g}" for k in keys for v in rows[k][i].tolist()])
    rank_zero_info(f"[dl-labs] wrote {rows['pred'].shape[0]} predictions to {path}")
    return path


def write_text_predictions(predictions: Sequence[dict[str, list[str]]], path: Path) -> Path:
    """Lists of strings per key -> a TSV with one column per key (tabs and newlines in texts become spaces)."""
    keys = list(predictions[0])
    rows = {k: [t for p in predictions for t in p[k]] for k in keys}
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\t".join(keys) + "\n")
        for i in range(len(rows[keys[0]])):
            f.write("\t".join(" ".join(str(rows[k][i]).split()) for k in keys) + "\n")
    rank_zero_info(f"[dl-labs] wrote {len(rows[keys[0]])} predictions to {path}")
    return path


def write_image_predictions(
    predictions: Sequence[dict[str, Tensor]], run_dir: Path, suffix: str, grid_key: str | None, grid_n: int = 64
) -> list[Path]:
    """``predictions{suffix}.pt``: every key concatenated over batches (4-d float images in [0, 1]
    as uint8 0..255); ``predictions{suffix}.png``: a grid of the first ``grid_n`` images under
    ``grid_key`` (None: the first image key)."""
    out = {
        k: (v.clamp(0, 1) * 255).round().to(torch.uint8) if v.is_floating_point() and v.dim() == 4 else v
        for k, v in concatenate(predictions).items()
    }
    pt = run_dir / f"predictions{suffix}.pt"
    torch.save(out, pt)
    images = [k for k, v in out.items() if v.dtype == torch.uint8 and v.dim() == 4]
    key = grid_key if grid_key is not None else (images[0] if images else None)
    if key is None:
        return [pt]
    if key not in images:
        raise LabError(f"prediction_grid_key={key!r} is not an image output of predict_step (images: {images})")
    png = run_dir / f"predictions{suffix}.png"
    save_image_batch(out[key][:grid_n].float() / 255, png, ncols=8)
    return [pt, png]


def write_box_predictions(
    predictions: Sequence[dict[str, Tensor]],
    run_dir: Path,
    suffix: str,
    names: list[str],
    grid_key: str | None,
    grid_n: int = 64,
) -> list[Path]:
    """``boxes`` / ``scores`` / ``labels`` (N x K, label -1 = none) -> ``predictions{suffix}.csv`` (one row
    per box); the images under ``grid_key`` (if returned) -> ``predictions{suffix}.png``."""
    rows = concatenate(predictions)
    index = rows["index"].tolist() if "index" in rows else list(range(len(rows["labels"])))
    path = run_dir / f"predictions{suffix}.csv"
    n_boxes = 0
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label", "label_name", "score", "x1", "y1", "x2", "y2"])
        for i, image in enumerate(index):
            for label, score, box in zip(
                rows["labels"][i].tolist(), rows["scores"][i].tolist(), rows["boxes"][i].tolist()
            ):
                if label < 0:
                    continue
                n_boxes += 1
                w.writerow(
                    [
                        image,
                        label,
                        names[label] if label < len(names) else label,
                        f"{score:.4f}",
                        *(f"{v:.1f}" for v in box),
                    ]
                )
    rank_zero_info(f"[dl-labs] {n_boxes} boxes on {len(index)} images")
    paths = [path]
    if grid_key and grid_key in rows:
        png = run_dir / f"predictions{suffix}.png"
        save_image_batch(rows[grid_key][:grid_n].float(), png, ncols=8)
        paths.append(png)
    return paths
