"""Translation labs through the CLI: predict raw sentences from a checkpoint, and 2-process DDP."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary

pytestmark = pytest.mark.slow  # end-to-end runs


@pytest.fixture(autouse=True)
def one_thread():
    # step-by-step decoders on a CPU shared with other jobs: torch's spinning intra-op threads made them far slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


RNN = str(ROOT / "configs/labs/seq2seq/translation_rnn.yaml")
TRANSFORMER = str(ROOT / "configs/labs/seq2seq/translation_transformer.yaml")
SMALL = ["--data.init_args.max_train_pairs", "256", "--data.init_args.max_eval_pairs", "32"]


def test_predict_translates_raw_sentences_from_a_checkpoint(tmp_path):
    run = cli("fit", "--config", RNN, *TINY, *SMALL, runs_dir=tmp_path, lab="fit")
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)  # vocabularies travel as plain data
    assert ckpt["TranslationDataModule"]["tgt_encoder"]["kind"] == "word"
    texts = tmp_path / "texts.txt"
    texts.write_text("I am cold.\n\nWhere is Tom?\n", encoding="utf-8")
    # a path that does not exist: predict needs nothing of the training data
    pred = cli(
        "predict", "--config", RNN, *TINY, "--ckpt_path", str(last),
        "--data.init_args.predict_file", str(texts), "--data.init_args.path", str(tmp_path / "gone.tsv"),
        "--data.init_args.source", "auto",
        runs_dir=tmp_path, lab="pred",
    )  # fmt: skip
    rows = list(csv.DictReader(open(pred / "predictions.tsv", encoding="utf-8"), delimiter="\t"))
    assert [r["source"] for r in rows] == ["i am cold.", "where is tom?"]
    for r in rows:
        assert set(r) == {"source", "greedy", "beam"}
        assert not any(s in r["greedy"] + r["beam"] for s in ("<eos>", "<bos>", "<pad>", "<unk>"))


def test_two_process_ddp(tmp_path):
    # ddp_spawn pickles module, datamodule, metrics and callbacks; BLEU statistics are summed over ranks
    run = cli(
        "fit", "--config", TRANSFORMER, *TINY, *SMALL, *DDP_CPU_2, "--test_after_fit", "true",
        runs_dir=tmp_path, lab="ddp",
    )  # fmt: skip
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2  # limit_train_batches counts per rank
    test = summary(run)["test"]
    for key in ("test/bleu", "test/chrf", "test/bleu_beam", "test/ppl"):
        assert math.isfinite(test[key])
