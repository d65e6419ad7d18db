"""Test predictions as browsable tables: a ``wandb.Table`` per test run (W&B) and its text as a Markdown
table (TensorBoard's text tab), built from the task module's ``predict_step`` on the test batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor

from callbacks.figures import to_display
from callbacks.layers import normalization

TABLE_KEY = "test/predictions"
MAX_CLASS_COLUMNS = 20  # one probability column per class up to this many classes, else the top 5 as text


def _names(pl_module: LightningModule) -> list[str]:
    return [str(n) for n in getattr(pl_module, "class_names", []) or []]


def _name(names: list[str], i: int) -> str:
    return names[i] if 0 <= i < len(names) else str(i)


def _uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


class PredictionTables(Callback):
    """At the end of ``test``, the first ``rows`` test examples (rank zero's share under DDP) with the model's
    predictions, one table row each, by what ``predict_step`` returns (``LabTask.prediction_kind``):

    - classification (``classes``): the image (``wandb.Image``) or the text, true and predicted class,
      ``correct``, the predicted class's probability and every class's (the top 5 beyond 20 classes);
    - translation (``texts``): source, reference, greedy and beam translations, sentence BLEU of each;
    - regression / forecasting (``values``): window end (date, where the datamodule has ``target_dates``),
      actual, forecast and the naive forecast per output;
    - detection (``boxes``): the image with ground-truth and predicted boxes as W&B box overlays (class names,
      scores), box counts and the best score;
    - segmentation (``images`` with ``mask`` and ``truth``): the image with truth and prediction masks as W&B
      mask overlays, and the example's IoU;
    - generative models: nothing here (their sample grids are figures, per epoch).

    Logged as ``test/predictions`` to every ``WandbLogger`` and, without the images, as a Markdown table to
    every ``TensorBoardLogger`` (text tab). One extra no-grad ``predict_step`` per test batch until ``rows``
    examples are in (``rows=0``: off).
    """

    def __init__(self, rows: int = 64) -> None:
        self.rows = rows
        self._columns: list[str] = []
        self._data: list[list[Any]] = []
        self._seen = 0

    def _active(self, trainer: Trainer) -> bool:
        return (
            self.rows > 0
            and trainer.is_global_zero
            and any(isinstance(lg, (WandbLogger, TensorBoardLogger)) for lg in trainer.loggers)
        )

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._columns, self._data, self._seen = [], [], 0

    @torch.no_grad()
    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._active(trainer) or len(self._data) >= self.rows or not isinstance(batch, dict):
            return
        kind = getattr(pl_module, "prediction_kind", None)
        first = self._seen
        n = _batch_size(batch)
        self._seen += n
        if kind == "boxes":
            # Without ``orig_size`` the boxes stay in the pixels of the batch's images, where they are drawn.
            out = pl_module.predict_step({k: v for k, v in batch.items() if k != "orig_size"}, batch_idx)
        else:
            out = pl_module.predict_step(batch, batch_idx)
        if not isinstance(out, dict):
            return
        build = {
            "classes": self._classes,
            "texts": self._texts,
            "values": self._values,
            "boxes": self._boxes,
            "images": self._masks,
        }.get(kind)
        if build is None:
            return
        rows = build(trainer, pl_module, batch, out, first)
        self._data.extend(rows[: self.rows - len(self._data)])

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._active(trainer) or not self._data:
            return
        step = trainer.global_step
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                table = wandb.Table(columns=self._columns, data=self._data)
                logger.experiment.log({TABLE_KEY: table, "trainer/global_step": step})
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_text(TABLE_KEY, self.markdown(), global_step=step)

    def markdown(self) -> str:
        """The table's text columns as Markdown (images and overlays left out)."""
        keep = [i for i, _ in enumerate(self._columns) if all(_is_text(r[i]) for r in self._data)]
        head = [self._columns[i] for i in keep]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self._data:
            lines.append("| " + " | ".join(_cell(r[i]) for i in keep) + " |")
        return "\n".join(lines)

    # --- rows by prediction kind --------------------------------------------------------------
    def _classes(self, trainer: Trainer, pl_module: Any, batch: dict, out: dict, first: int) -> list[list[Any]]:
        names = _names(pl_module)
        probs = out["probs"].float().cpu()
        pred = out["pred"].cpu().tolist()
        labels = out["label"].cpu().tolist() if "label" in out else None
        inputs, input_column = self._inputs(trainer, batch)
        c = probs.shape[1]
        per_class = c <= MAX_CLASS_COLUMNS
        self._columns = ["index", input_column] + (["true"] if labels is not None else []) + ["predicted"]
        self._columns += (["correct"] if labels is not None else []) + ["probability"]
        self._columns += [f"p({_name(names, j)})" for j in range(c)] if per_class else ["top 5"]
        rows = []
        for i, p in enumerate(pred):
            row: list[Any] = [first + i, inputs[i]]
            if labels is not None:
                row.append(_name(names, int(labels[i])))
            row.append(_name(names, int(p)))
            if labels is not None:
                row.append(int(labels[i]) == int(p))
            row.append(round(float(probs[i, int(p)]), 4))
            if per_class:
                row += [round(float(v), 4) for v in probs[i]]
            else:
                top = probs[i].topk(min(5, c))
                row.append(", ".join(f"{_name(names, int(j))} {v:.3f}" for v, j in zip(top.values, top.indices)))
            rows.append(row)
        return rows

    def _inputs(self, trainer: Trainer, batch: dict) -> tuple[list[Any], str]:
        """The batch's examples as table cells: images as ``wandb.Image`` (text for TensorBoard-only runs),
        token ids as text where the datamodule can name its tokens."""
        if "image" in batch:
            images = _uint8(np.asarray(to_display(batch["image"], *normalization(trainer))))
            if any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
                import wandb

                return [wandb.Image(im) for im in images], "image"
            return [f"image {tuple(im.shape)}" for im in images], "image"
        if "input_ids" in batch:
            ids = batch["input_ids"].cpu()
            mask = batch.get("attention_mask")
            lengths = batch.get("lengths")
            dm = trainer.datamodule
            texts = []
            for i in range(ids.shape[0]):
                row = ids[i]
                if lengths is not None:
                    row = row[: int(lengths[i])]
                elif mask is not None:
                    row = row[mask[i].cpu().bool()]
                tokens = dm.tokens(row.tolist()) if hasattr(dm, "tokens") else [str(t) for t in row.tolist()]
                texts.append(" ".join(tokens))
            return texts, "text"
        if "features" in batch:
            return [", ".join(f"{v:.3g}" for v in f.tolist()) for f in batch["features"].float().cpu()], "features"
        return [""] * _batch_size(batch), "input"

    def _texts(self, trainer: Trainer, pl_module: Any, batch: dict, out: dict, first: int) -> list[list[Any]]:
        import sacrebleu

        keys = [k for k in ("source", "reference", "greedy", "beam") if k in out]
        self._columns = ["index"] + keys
        hyps = [k for k in ("greedy", "beam") if k in out]
        if "reference" in out:
            self._columns += [f"BLEU {k}" for k in hyps]
        rows = []
        for i in range(len(out[keys[0]])):
            row: list[Any] = [first + i] + [str(out[k][i]) for k in keys]
            if "reference" in out:
                ref = str(out["reference"][i])
                row += [round(sacrebleu.sentence_bleu(str(out[k][i]), [ref]).score, 2) for k in hyps]
            rows.append(row)
        return rows

    def _values(self, trainer: Trainer, pl_module: Any, batch: dict, out: dict, first: int) -> list[list[Any]]:
        keys = [k for k in ("target", "pred", "baseline") if k in out]
        parts = {k: out[k].reshape(out[k].shape[0], -1).float().cpu() for k in keys}
        width = parts["pred"].shape[1]
        names = [str(n) for n in getattr(pl_module, "target_names", []) or []]
        names = names if len(names) == width else [f"y{j}" for j in range(width)]
        label = {"target": "actual", "pred": "forecast", "baseline": "naive"}
        dates = _target_dates(trainer)
        self._columns = ["index"] + (["window end"] if dates is not None else [])
        self._columns += [label[k] if width == 1 else f"{label[k]} {n}" for k in parts for n in names]
        rows = []
        for i in range(parts["pred"].shape[0]):
            row: list[Any] = [first + i]
            if dates is not None:
                row.append(str(dates[first + i]) if first + i < len(dates) else "")
            row += [round(float(v), 6) for k in parts for v in parts[k][i]]
            rows.append(row)
        return rows

    def _boxes(self, trainer: Trainer, pl_module: Any, batch: dict, out: dict, first: int) -> list[list[Any]]:
        import wandb

        names = _names(pl_module)
        classes = {j: n for j, n in enumerate(names)}
        images = _uint8(np.asarray(to_display(batch["image"])))
        h, w = images.shape[1:3]
        self._columns = ["index", "image", "truth boxes", "predicted boxes", "best score"]
        index = out["index"].cpu().tolist() if "index" in out else [first + i for i in range(len(images))]
        rows = []
        for i in range(len(images)):
            keep = out["labels"][i] >= 0
            pred = _box_data(out["boxes"][i][keep], out["labels"][i][keep], names, out["scores"][i][keep])
            overlays = {"predictions": {"box_data": pred, "class_labels": classes}}
            n_truth = 0
            if "boxes" in batch and "labels" in batch:
                t = batch["labels"][i] >= 0
                truth = _box_data(batch["boxes"][i][t], batch["labels"][i][t], names)
                overlays["ground_truth"] = {"box_data": truth, "class_labels": classes}
                n_truth = len(truth)
            image: Any = wandb.Image(images[i], boxes=overlays) if _has_wandb(trainer) else f"image {w}x{h}"
            best = float(out["scores"][i][keep].max()) if keep.any() else 0.0
            rows.append([int(index[i]), image, n_truth, len(pred), round(best, 4)])
        return rows

    def _masks(self, trainer: Trainer, pl_module: Any, batch: dict, out: dict, first: int) -> list[list[Any]]:
        if "mask" not in out or "image" not in batch:
            return []  # generative models: their samples are figures
        import wandb

        names = _names(pl_module)
        classes = {j: n for j, n in enumerate(names)} if len(names) >= 2 else {0: "background", 1: "foreground"}
        images = _uint8(np.asarray(to_display(_minmax(batch["image"]))))
        pred = _class_mask(out["mask"])
        truth = _class_mask(out["truth"]) if "truth" in out else None
        self._columns = ["index", "image"] + (["IoU"] if truth is not None else [])
        rows = []
        for i in range(len(images)):
            overlays = {"prediction": {"mask_data": pred[i], "class_labels": classes}}
            row: list[Any] = [first + i]
            if truth is not None:
                overlays["ground_truth"] = {"mask_data": truth[i], "class_labels": classes}
            row.append(wandb.Image(images[i], masks=overlays) if _has_wandb(trainer) else "image")
            if truth is not None:
                inter = np.logical_and(pred[i] > 0, truth[i] > 0).sum()
                union = np.logical_or(pred[i] > 0, truth[i] > 0).sum()
                row.append(round(float(inter / union), 4) if union else 1.0)
            rows.append(row)
        return rows


def _has_wandb(trainer: Trainer) -> bool:
    return any(isinstance(lg, WandbLogger) for lg in trainer.loggers)


def _batch_size(batch: dict) -> int:
    for v in batch.values():
        if isinstance(v, Tensor) and v.dim() > 0:
            return int(v.shape[0])
        if isinstance(v, (list, tuple)):
            return len(v)
    return 0


def _target_dates(trainer: Trainer) -> Any:
    dm = trainer.datamodule
    if trainer.world_size != 1 or not hasattr(dm, "target_dates"):
        return None  # under DDP rank zero's examples are every world_size-th window: no simple date index
    try:
        return dm.target_dates("test")
    except (KeyError, AttributeError):
        return None


def _minmax(x: Tensor) -> Tensor:
    flat = x.float().flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(x)


def _class_mask(mask: Tensor) -> np.ndarray:
    """N x 1 x H x W (0/1, or class ids) -> N x H x W uint8 class ids for W&B mask overlays."""
    m = mask.detach().cpu()
    if m.dim() == 4:
        m = m[:, 0] if m.shape[1] == 1 else m.argmax(1)
    return m.round().clamp(0, 255).to(torch.uint8).numpy()


def _box_data(boxes: Tensor, labels: Tensor, names: list[str], scores: Tensor | None = None) -> list[dict]:
    """W&B box overlay entries in the image's pixels."""
    out = []
    for j, (box, label) in enumerate(zip(boxes.cpu().tolist(), labels.cpu().tolist())):
        entry: dict[str, Any] = {
            "position": {"minX": box[0], "minY": box[1], "maxX": box[2], "maxY": box[3]},
            "domain": "pixel",
            "class_id": int(label),
            "box_caption": _name(names, int(label)),
        }
        if scores is not None:
            score = float(scores[j])
            entry["scores"] = {"score": score}
            entry["box_caption"] += f" {score:.2f}"
        out.append(entry)
    return out


def _is_text(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, np.integer, np.floating))


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
