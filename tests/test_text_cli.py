"""Text labs through the CLI: predict on raw sentences from a checkpoint without the training
data, the binary (one-logit) BERT-GRU, and the train -> fine-tune cross-set workflow."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import pytest

from datamodules.text_readers import TEXT_DIR
from tests.helpers import ROOT, TINY, cli, summary

TEXT = ROOT / "configs" / "labs" / "text"


def _predictions(run: Path) -> list[dict]:
    return list(csv.DictReader(open(run / "predictions.csv")))


def test_predict_raw_text_without_training_data(tmp_path):
    data = tmp_path / "trec"
    data.mkdir()
    for name in ("train_5500.label", "TREC_10.label"):
        (data / name).write_bytes(gzip.open(TEXT_DIR / f"trec_{name}.gz").read())
    run = cli(
        "fit",
        "--config",
        str(TEXT / "trec_transformer.yaml"),
        *TINY,
        "--data.init_args.path",
        str(data),
        "--trainer.callbacks=[]",
        runs_dir=tmp_path / "runs",
        lab="fit",
    )
    ckpt = run / "checkpoints" / "last.ckpt"
    shutil.rmtree(data)  # a machine without the training data
    texts = ["Who wrote Hamlet ?", "How far is the moon ?", "What does NASA stand for ?"]
    pred = cli(
        "predict",
        "--config",
        str(TEXT / "trec_transformer.yaml"),
        "--ckpt_path",
        str(ckpt),
        "--data.init_args.path",
        str(data),
        "--data.init_args.predict_texts",
        json.dumps(texts),
        "--trainer.enable_progress_bar",
        "false",
        runs_dir=tmp_path / "runs",
        lab="pred",
    )
    rows = _predictions(pred)
    assert len(rows) == 3
    assert {r["pred_name"] for r in rows} <= {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    (tmp_path / "q.txt").write_text("\n".join(texts) + "\n")
    pred2 = cli(
        "predict",
        "--config",
        str(TEXT / "trec_transformer.yaml"),
        "--ckpt_path",
        str(ckpt),
        "--data.init_args.path",
        str(data),
        "--data.init_args.predict_file",
        str(tmp_path / "q.txt"),
        "--trainer.enable_progress_bar",
        "false",
        runs_dir=tmp_path / "runs",
        lab="pred2",
    )
    assert [r["pred"] for r in _predictions(pred2)] == [r["pred"] for r in rows]  # same tokenizer, same order


@pytest.mark.slow
def test_bert_gru_binary_learns_and_predicts_raw_sentences(tmp_path):
    # 64 steps: 16 (1 epoch of 32) left the test accuracy at 0.78-0.91 depending on the training seed
    args = [
        "--data.init_args.dataset",
        "toy",
        "--data.init_args.toy_size",
        "640",
        "--data.init_args.batch_size",
        "16",
        "--trainer.max_epochs",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.callbacks=[]",
    ]
    run = cli(
        "fit",
        "--config",
        str(TEXT / "sentiment_bert_gru.yaml"),
        *args,
        "--test_after_fit",
        "true",
        runs_dir=tmp_path / "runs",
        lab="fit",
    )
    s = summary(run)
    assert s["test"]["test/acc"] >= 0.8, s["test"]
    assert s["params"] - s["trainable_params"] == 22_713_216  # the frozen MiniLM encoder
    texts = ["the movie was really great", "the food was awful", "the plot was not good"]
    pred = cli(
        "predict",
        "--config",
        str(TEXT / "sentiment_bert_gru.yaml"),
        "--ckpt_path",
        s["best_checkpoint"],
        "--data.init_args.dataset",
        "toy",
        "--data.init_args.predict_texts",
        json.dumps(texts),
        "--trainer.enable_progress_bar",
        "false",
        runs_dir=tmp_path / "runs",
        lab="pred",
    )
    rows = _predictions(pred)
    assert [r["pred_name"] for r in rows] == ["positive", "negative", "negative"]
    assert all(0.5 <= float(r["prob"]) <= 1.0 for r in rows)


def test_binary_mode_rejects_a_multi_logit_net(tmp_path):
    with pytest.raises(SystemExit):
        cli(
            "fit",
            "--config",
            str(TEXT / "sentiment_rnn.yaml"),
            *TINY,
            "--model.init_args.binary",
            "true",
            runs_dir=tmp_path / "runs",
            lab="bad",
        )


def test_bow_train_then_finetune_on_another_set(tmp_path):
    """The bag-of-words report's workflow: train on rt_polarity, test on IMDB, fine-tune that checkpoint on IMDB
    with the rt_polarity vocabulary, test again (the 2x2 table, tiny)."""
    cfg = str(TEXT / "sentiment_bow_mlp.yaml")
    small = [*TINY, "--trainer.callbacks=[]", "--data.init_args.tokenizer.max_vocab_size", "2000"]
    first = cli("fit", "--config", cfg, *small, runs_dir=tmp_path / "runs", lab="rt")
    ckpt = str(first / "checkpoints" / "last.ckpt")
    on_imdb = cli(
        "test",
        "--config",
        cfg,
        *small,
        "--ckpt_path",
        ckpt,
        "--data.init_args.dataset",
        "imdb",
        runs_dir=tmp_path / "runs",
        lab="rt_on_imdb",
    )
    assert "test/acc" in summary(on_imdb)["test"]
    tuned = cli(
        "fit",
        "--config",
        cfg,
        *small,
        "--data.init_args.dataset",
        "imdb",
        "--data.init_args.from_checkpoint",
        ckpt,
        "--model.init_args.weights_from",
        ckpt,
        runs_dir=tmp_path / "runs",
        lab="imdb",
    )
    import torch

    a = torch.load(ckpt, weights_only=True)
    b = torch.load(tuned / "checkpoints" / "last.ckpt", weights_only=True)
    assert (
        a["TextClassificationDataModule"]["encoder"] == b["TextClassificationDataModule"]["encoder"]
    )  # same vocabulary
    assert b["epoch"] == 0  # a fresh run, not a resume
    back = cli(
        "test",
        "--config",
        cfg,
        *small,
        "--ckpt_path",
        str(tuned / "checkpoints" / "last.ckpt"),
        runs_dir=tmp_path / "runs",
        lab="imdb_on_rt",
    )
    assert "test/acc" in summary(back)["test"]


def test_word_level_ids_never_reach_a_pretrained_encoder(tmp_path, capsys):
    # rt_polarity's own vocabulary is smaller than BERT's, so no size check could catch it
    with pytest.raises(SystemExit) as err:
        cli(
            "fit",
            "--config",
            str(TEXT / "sentiment_bert_gru.yaml"),
            *TINY,
            "--data.init_args.tokenizer.kind",
            "vocab",
            runs_dir=tmp_path / "runs",
            lab="bad",
        )
    assert err.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: ") and "--data.init_args.tokenizer.kind pretrained" in message
