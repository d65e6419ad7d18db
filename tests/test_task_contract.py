"""The task-module contract (lab_modules.task.LabTask) as the CLI, the writer and the figures read it:
monitored metrics, prediction kinds written by callbacks.PredictionWriter, the confusion-matrix hook,
and train/loss_step written for the step it is written at."""

from __future__ import annotations

import csv

import lightning as L
import numpy as np
import pytest
import torch
import yaml
from lightning.pytorch.loggers import CSVLogger
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import callbacks.confusion_matrix
import lab_modules
from callbacks import ConfusionMatrixFigure, PredictionWriter
from callbacks.figures import log_figure
from datamodules import MNISTDataModule
from lab_modules import GAN, Classifier, LabTask
from lab_modules.nets import MLP, MLPDiscriminator, MLPGenerator
from tests.helpers import ROOT

TASKS = [
    "Classifier",
    "CycleGAN",
    "DenoisingAutoencoder",
    "Detector",
    "GAN",
    "Regressor",
    "Segmenter",
    "Seq2Seq",
    "VAE",
]


def test_every_task_follows_the_contract():
    for name in TASKS:
        cls = getattr(lab_modules, name)
        assert issubclass(cls, LabTask), name
        assert not hasattr(cls, "write_predictions"), f"{name}: the PredictionWriter writes every kind"
        assert cls.prediction_kind in ("classes", "images", "boxes", "values", "tensors", "texts")
        assert cls.prediction_kind in ("classes", "values", "texts") or cls.prediction_grid_key is not None, name
    gan = GAN(MLPGenerator(latent_dim=4, hidden=[8]), MLPDiscriminator(hidden=[8]), fid=True)
    assert (gan.monitor, gan.monitor_mode) == ("val/fid_mnist", "min")
    assert GAN(MLPGenerator(latent_dim=4, hidden=[8]), MLPDiscriminator(hidden=[8]), fid=False).monitor is None


@pytest.mark.parametrize("family", ["generative", "dense"])
def test_labs_checkpoint_the_tasks_monitored_metric(family):
    """Each lab's checkpoint section follows the metric its task module declares."""
    for path in sorted((ROOT / "configs" / "labs" / family).glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        cls = getattr(lab_modules, cfg["model"]["class_path"].rsplit(".", 1)[-1])
        if cls is lab_modules.GAN or "checkpoint" not in cfg:  # GAN: a property (above); mnist_fid_cnn: the CLI default
            continue
        assert cfg["checkpoint"]["monitor"] == cls.monitor, path.name
        if cls.monitor is not None:
            assert cfg["checkpoint"]["mode"] == cls.monitor_mode, path.name


class Emit(LabTask):
    """Predicts fixed tensors of one kind from batches of 1 x 4 x 4 images in [0, 1]."""

    def __init__(self, kind: str, grid_key: str | None = None) -> None:
        super().__init__()
        self.prediction_kind, self.prediction_grid_key = kind, grid_key
        self.class_names = ["cat", "dog", "eel"]
        self.layer = nn.Linear(1, 1)

    def predict_step(self, batch, batch_idx):
        x = batch[0]
        score = x.mean(dim=(1, 2, 3))
        if self.prediction_kind == "classes":
            probs = torch.stack([score, 1 - score, torch.zeros_like(score)], -1)
            return {"pred": probs.argmax(-1), "probs": probs, "label": torch.full_like(score, 1, dtype=torch.long)}
        return {"image": x, "score": score, "double": 2 * x}

    def test_step(self, batch, batch_idx):
        self.log("test/score", batch[0].mean())


def _predict(model: LabTask, x: torch.Tensor, tmp_path) -> None:
    trainer = L.Trainer(
        logger=False,
        callbacks=[PredictionWriter(grid_n=9)],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.predict(model, DataLoader(TensorDataset(x), batch_size=4), return_predictions=False)


def test_prediction_writer_writes_each_kind(tmp_path):
    x = torch.rand(10, 1, 4, 4)

    _predict(Emit("images", grid_key="double"), x, tmp_path / "images")
    out = torch.load(tmp_path / "images" / "predictions.pt", weights_only=True)
    assert out["image"].dtype == torch.uint8 and torch.equal(out["image"], (x * 255).round().to(torch.uint8))
    assert torch.equal(out["double"], ((2 * x).clamp(0, 1) * 255).round().to(torch.uint8))
    torch.testing.assert_close(out["score"], x.mean(dim=(1, 2, 3)))  # not an image: kept as is
    with Image.open(tmp_path / "images" / "predictions.png") as im:
        grid = np.asarray(im.convert("L"))
    assert grid.shape == (2 * 6 + 2, 8 * 6 + 2)  # first 9 of "double": 2 rows of 8 tiles (4 px + 2 padding)
    np.testing.assert_array_equal(grid[2:6, 2:6], out["double"][0, 0].numpy())

    _predict(Emit("tensors"), x, tmp_path / "tensors")
    out = torch.load(tmp_path / "tensors" / "predictions.pt", weights_only=True)
    assert torch.equal(out["image"], x) and torch.equal(out["double"], 2 * x)
    assert not (tmp_path / "tensors" / "predictions.png").exists()

    _predict(Emit("classes"), x, tmp_path / "classes")
    with open(tmp_path / "classes" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    for row, score in zip(rows, x.mean(dim=(1, 2, 3)).tolist()):
        pred = 0 if score > 1 - score else 1
        assert (int(row["pred"]), row["pred_name"], row["label_name"]) == (pred, ["cat", "dog"][pred], "dog")
        assert float(row["prob"]) == pytest.approx(max(score, 1 - score), abs=1e-4)


def test_confusion_matrix_figure_draws_the_tasks_matrix(tmp_path, monkeypatch):
    drawn = {}

    def capture(trainer, fig, name, step=None):
        drawn[name] = (
            fig.axes[0].get_images()[0].get_array().copy(),
            [t.get_text() for t in fig.axes[0].get_xticklabels()],
        )
        return log_figure(trainer, fig, name, step)

    monkeypatch.setattr(callbacks.confusion_matrix, "log_figure", capture)
    L.seed_everything(0)
    dm = MNISTDataModule(source="embedded", batch_size=16, eval_batch_size=50, max_train_samples=64)
    model = Classifier(MLP(in_features=784, hidden=[16]), num_classes=10, class_names=[f"d{i}" for i in range(10)])
    trainer = L.Trainer(
        max_steps=4,
        limit_val_batches=2,
        limit_test_batches=2,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ConfusionMatrixFigure()],
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    assert set(drawn) == {"val/confusion_matrix", "test/confusion_matrix"}
    shown, names = drawn["test/confusion_matrix"]
    assert model.confusion_matrix("test") is model.test_confmat and model.confusion_matrix("train") is None
    np.testing.assert_array_equal(shown, model.confusion_matrix("test").compute().numpy())
    assert shown.sum() == 100 and names == model.class_names
    assert (tmp_path / "figures" / "test_confusion_matrix.png").exists()

    drawn.clear()  # a task without a confusion matrix (LabTask's default None): nothing drawn
    L.Trainer(
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ConfusionMatrixFigure()],
        default_root_dir=tmp_path,
    ).test(Emit("tensors"), DataLoader(TensorDataset(torch.rand(4, 1, 4, 4))), verbose=False)
    assert drawn == {}


@pytest.mark.parametrize("every_n", [3, 1])
def test_train_loss_step_is_the_loss_of_the_step_it_is_written_at(tmp_path, every_n):
    losses: dict[int, float] = {}

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses[trainer.global_step - 1] = float(outputs["loss"])  # global_step counts this step already

    L.seed_everything(0)
    dm = MNISTDataModule(source="embedded", batch_size=8, eval_batch_size=50, max_train_samples=64)  # 8 steps per epoch
    model = Classifier(MLP(in_features=784, hidden=[16]), num_classes=10, optimizer=torch.optim.SGD)
    trainer = L.Trainer(
        max_steps=14,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        log_every_n_steps=every_n,
        logger=CSVLogger(tmp_path, name="run"),
        callbacks=[Record()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as f:
        written = {int(r["step"]): float(r["train/loss_step"]) for r in csv.DictReader(f) if r.get("train/loss_step")}
    assert sorted(written) == [s for s in range(14) if (s + 1) % every_n == 0]  # Lightning writes at these steps
    assert len(set(losses.values())) == 14  # every step's loss differs, so a stale value would show
    for step, value in written.items():
        assert value == pytest.approx(losses[step], rel=1e-6), step


def test_fp32_matmuls_stay_full_precision_on_cpu(tmp_path):
    """On a CPU, "high" matmul precision lets oneDNN emulate fp32 with bf16 passes: slower for small nets (the
    temperature RNN's step among them) and not the reports' numerics. A fit on CPU leaves it at "highest"."""
    torch.set_float32_matmul_precision("high")
    try:
        dm = MNISTDataModule(source="embedded", batch_size=8, eval_batch_size=50, max_train_samples=16)
        model = Classifier(MLP(in_features=784, hidden=[8]), num_classes=10)
        trainer = L.Trainer(
            max_steps=1,
            limit_val_batches=0,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
        )
        trainer.fit(model, datamodule=dm)
        assert torch.get_float32_matmul_precision() == "highest"
    finally:
        torch.set_float32_matmul_precision("highest")


def test_setup_under_a_process_group_destroys_it_at_exit(monkeypatch, tmp_path):
    """Every rank's task setup registers the exit handler that destroys the process group (labcore.process_group),
    so no spawned rank exits with a live gloo group."""
    import lab_modules.task as task_module

    calls = []
    monkeypatch.setattr(task_module, "destroy_at_exit", lambda: calls.append(1))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    model = Classifier(MLP(in_features=784, hidden=[8]), num_classes=10)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    model.trainer = trainer
    try:
        model.setup("fit")
    finally:
        torch.set_float32_matmul_precision("highest")
    assert calls == [1]
