"""Guards for the reports' translation recipes as the lab configs now state them (docs/ledger.md)."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers import ROOT

LABS = ROOT / "configs" / "labs" / "seq2seq"
CONFIGS = ["translation_rnn", "translation_rnn_attention", "translation_transformer"]


def _cfg(name: str) -> dict:
    return yaml.safe_load((LABS / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_mini_batches_on_a_held_out_split(name):
    # the report trained on 500 unseeded pairs as ONE batch with no held-out data
    data = _cfg(name)["data"]["init_args"]
    assert data["batch_size"] <= 128
    assert data.get("bucketing", True)
    assert data.get("val_fraction", 0.05) > 0 and data.get("test_fraction", 0.05) > 0
    assert data.get("max_train_pairs") is None  # the whole corpus, not 500 random pairs


def test_rnn_recipes_are_the_reports():
    for name, attention in (("translation_rnn", "none"), ("translation_rnn_attention", "additive")):
        cfg = _cfg(name)
        net = cfg["model"]["init_args"]["net"]["init_args"]
        assert (net["embedding_dim"], net["hidden_size"], net["attention"]) == (256, 512, attention)
        assert cfg["model"]["init_args"]["teacher_forcing"] == 0.5
        assert cfg["trainer"]["gradient_clip_val"] == 1.0


def test_transformer_recipe_is_the_reports():
    cfg = _cfg("translation_transformer")
    net = cfg["model"]["init_args"]["net"]["init_args"]
    assert (net["d_model"], net["nhead"], net["num_encoder_layers"], net["num_decoder_layers"]) == (256, 4, 3, 3)
    assert cfg["model"]["init_args"]["optimizer"]["init_args"]["lr"] == 5.0e-4


def test_checkpoints_follow_held_out_bleu():
    from lab_modules.seq2seq import Seq2Seq

    assert (Seq2Seq.monitor, Seq2Seq.monitor_mode) == ("val/bleu", "max")
