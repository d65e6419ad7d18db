"""Test-prediction tables (``callbacks.wandb_tables.PredictionTables``): W&B box and mask overlays read back
from the offline run file, the TensorBoard text equivalent, and the rows of each prediction kind."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import wandb

from callbacks.wandb_tables import TABLE_KEY, PredictionTables
from tests.helpers import ROOT, TINY, cli
from tests.wandb_records import isolate_wandb, offline_runs

WANDB = str(ROOT / "configs/logger/wandb.yaml")


@pytest.fixture(autouse=True)
def _wandb_dirs(tmp_path, monkeypatch):
    yield from isolate_wandb(tmp_path, monkeypatch)


def _test_run(tmp_path, lab: str, *args: str):
    """``cli.py test`` of an untrained lab with W&B (offline), 3 table rows; the run dir and its read-back run."""
    run = cli(
        "test",
        "--config",
        str(ROOT / f"configs/labs/{lab}.yaml"),
        "--config",
        WANDB,
        *TINY,
        "--wandb_table_rows",
        "3",
        *args,
        runs_dir=tmp_path / "runs",
        lab="t",
    )
    wandb.finish()  # the process's end: the run file is complete
    (r,) = offline_runs(run)
    return run, r


@pytest.mark.slow
def test_detection_table_has_truth_and_predicted_box_overlays(tmp_path):
    run, r = _test_run(tmp_path, "dense/detection", "--model.init_args.score_threshold", "0.0")
    assert r.run.job_type == "test"
    table = r.table(TABLE_KEY)
    assert table["columns"] == ["index", "image", "truth boxes", "predicted boxes", "best score"]
    assert len(table["data"]) == 3
    for _, image, n_truth, n_pred, _ in table["data"]:
        boxes = image["boxes"]
        assert len(boxes["ground_truth"]) == n_truth > 0
        assert len(boxes["predictions"]) == n_pred
        for box in boxes["ground_truth"] + boxes["predictions"]:
            pos = box["position"]
            assert (
                0 <= pos["minX"] <= pos["maxX"] <= image["width"] and 0 <= pos["minY"] <= pos["maxY"] <= image["height"]
            )
            assert box["box_caption"].split()[0] == str(box["class_id"])  # the digits' class names are 0..9
    assert sum(row[3] for row in table["data"]) > 0  # at score threshold 0 an untrained detector still boxes
    assert all("score" in b["scores"] for row in table["data"] for b in row[1]["boxes"]["predictions"])

    # TensorBoard's text tab gets the same rows without the images.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run), size_guidance={"tensors": 0}).Reload()
    (text,) = events.Tensors(f"{TABLE_KEY}/text_summary")
    markdown = text.tensor_proto.string_val[0].decode()
    assert markdown.splitlines()[0] == "| index | truth boxes | predicted boxes | best score |"
    assert len(markdown.splitlines()) == 2 + 3


@pytest.mark.slow
def test_segmentation_table_has_truth_and_prediction_mask_overlays(tmp_path):
    _, r = _test_run(tmp_path, "dense/unet_segmentation")
    table = r.table(TABLE_KEY)
    assert table["columns"] == ["index", "image", "IoU"]
    assert 1 <= len(table["data"]) <= 3
    for _, image, iou in table["data"]:
        assert set(image["masks"]) == {"prediction", "ground_truth"}
        assert all(m["_type"] == "mask" and m["path"].endswith(".png") for m in image["masks"].values())
        assert 0.0 <= iou <= 1.0


# --- rows of each kind, from the callback alone -------------------------------------------------------------
def _trainer(**datamodule: object) -> SimpleNamespace:
    return SimpleNamespace(loggers=[], datamodule=SimpleNamespace(**datamodule), world_size=1)


def test_translation_rows_have_sentence_bleu_of_greedy_and_beam():
    out = {
        "source": ["we lost.", "go."],
        "greedy": ["nous avons perdu.", "va !"],
        "beam": ["nous perdîmes.", "bouge !"],
        "reference": ["nous perdîmes.", "va !"],
    }
    cb = PredictionTables()
    rows = cb._texts(_trainer(), None, {}, out, first=10)
    assert cb._columns == ["index", "source", "reference", "greedy", "beam", "BLEU greedy", "BLEU beam"]
    assert [r[0] for r in rows] == [10, 11]
    assert rows[0][6] == pytest.approx(100.0) and rows[0][5] < 100.0  # beam equals the reference
    assert rows[1][5] == pytest.approx(100.0) and rows[1][6] < 100.0


def test_forecast_rows_have_window_end_actual_forecast_and_naive():
    dates = pd.date_range("1990-01-01", periods=6, freq="D")
    out = {"pred": torch.tensor([[1.5], [2.5]]), "target": torch.tensor([[1.0], [2.0]]), "baseline": torch.ones(2, 1)}
    cb = PredictionTables()
    pl_module = SimpleNamespace(target_names=["temp"])
    rows = cb._values(_trainer(target_dates=lambda split: dates), pl_module, {}, out, first=4)
    assert cb._columns == ["index", "window end", "actual", "forecast", "naive"]
    assert rows == [[4, str(dates[4]), 1.0, 1.5, 1.0], [5, str(dates[5]), 2.0, 2.5, 1.0]]


def test_text_classification_rows_name_tokens_classes_and_probabilities():
    batch = {"input_ids": torch.tensor([[5, 6, 0], [7, 0, 0]]), "lengths": torch.tensor([2, 1])}
    out = {"pred": torch.tensor([1, 0]), "probs": torch.tensor([[0.2, 0.8], [0.6, 0.4]]), "label": torch.tensor([1, 1])}
    vocab = {5: "a", 6: "fine", 7: "dull"}
    trainer = _trainer(tokens=lambda ids: [vocab[i] for i in ids])
    cb = PredictionTables()
    rows = cb._classes(trainer, SimpleNamespace(class_names=["neg", "pos"]), batch, out, first=0)
    assert cb._columns == ["index", "text", "true", "predicted", "correct", "probability", "p(neg)", "p(pos)"]
    assert rows == [[0, "a fine", "pos", "pos", True, 0.8, 0.2, 0.8], [1, "dull", "pos", "neg", False, 0.6, 0.6, 0.4]]
    cb._data = rows
    assert cb.markdown().splitlines()[2] == "| 0 | a fine | pos | pos | True | 0.8 | 0.2 | 0.8 |"
