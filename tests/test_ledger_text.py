"""Fidelity ledger, text labs: one guard per flaw of the reports that docs/ledger.md
("Where the reports were wrong") lists. Each guard fails if its flaw comes back; the comment above
it says how, and where cheap the test computes the flawed variant and shows it differs."""

from __future__ import annotations

import gzip

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from matplotlib import pyplot as plt
from torch import nn

import callbacks.attention_heatmap
from callbacks import AttentionHeatmap
from datamodules import TextClassificationDataModule
from datamodules.text_readers import TEXT_DIR, parse_trec_line
from datamodules.text_tokenizer import TokenizerOptions
from lab_modules import Classifier
from lab_modules.nets import BertGRU, PrefixTuningClassifier, TransformerTextClassifier
from tests.helpers import TINY, cli, summary
from tests.ledger_helpers import LABS, QUIET, batches, lab

TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}
TEXT = LABS / "text"


def _official_trec(name: str) -> list[str]:
    """Questions of one official TREC file, read straight from the embedded copy."""
    lines = gzip.decompress((TEXT_DIR / f"trec_{name}.gz").read_bytes()).decode("latin-1").split("\n")
    return [parse_trec_line(ln)[1] for ln in lines if ln.strip()]


# --- trec_prefix_tuning: prefix tuning's extended attention mask -------------------------------------
# The flaw: the prefix was not given its own ones in the extended mask (so it was masked out, or the
# mask slid over the real tokens) and padding was attended. Fails if: the prefix is masked (changing it
# would not change the output), padding is attended (garbage padding would change it), or the mask is
# misaligned (the output would not equal the reference that attends exactly [prefix | real tokens]).
def test_prefix_tuning_attends_prefix_and_real_tokens_not_padding():
    torch.manual_seed(0)
    net = PrefixTuningClassifier(
        encoder_config=TINY_BERT, vocab_size=60, num_classes=3, prefix_length=4, init_std=1.0
    ).eval()
    ids = torch.tensor([[5, 9, 14, 22, 7, 7, 7]])  # 4 real tokens, 3 padded positions holding a real word id
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        out = net(ids, mask)
        torch.testing.assert_close(net(ids[:, :4], mask[:, :4]), out, atol=1e-5, rtol=1e-4)  # padding ignored

        # the reference: the frozen encoder run on [prefix | embeddings] with an additive mask over keys
        hidden = torch.cat([net.prefix[None], net.bert.embeddings(input_ids=ids)], dim=1)

        def encode(keys: torch.Tensor) -> torch.Tensor:
            additive = (1.0 - keys[:, None, None, :]) * torch.finfo(torch.float32).min
            h = net.bert.encoder(hidden, attention_mask=additive).last_hidden_state[:, 4:]
            m = mask[..., None].float()
            return net.head((h * m).sum(1) / m.sum(1))

        right = torch.cat([torch.ones(1, 4), mask.float()], dim=1)
        torch.testing.assert_close(out, encode(right), atol=1e-5, rtol=1e-4)
        # the flawed masks give other outputs, so the comparison above has teeth
        prefix_masked = torch.cat([torch.zeros(1, 4), mask.float()], dim=1)
        padding_attended = torch.ones(1, 11)
        for wrong in (prefix_masked, padding_attended):
            assert (encode(wrong) - out).abs().max() > 1e-3

        net.prefix.add_(torch.randn_like(net.prefix))  # the real tokens attend the prefix
        assert (net(ids, mask) - out).abs().max() > 1e-3


# --- sentiment_bert_gru: BCE on rounded outputs ---------------------------------------------------------
class _OneLogit(nn.Module):
    """One logit per example, ``w * x + b``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1)
        with torch.no_grad():
            self.lin.weight.fill_(1.0)
            self.lin.bias.zero_()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.lin(features)


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
        **kw,
    )


# The flaw: the report computed BCE on torch.round(sigmoid(logit)), whose gradient is zero (nothing learns) and
# whose value is 0 or 100 per example. Fails if: one SGD step leaves the weights unchanged, or the logged
# val/loss is not BCE-with-logits of the raw logits, or val/acc is not the share of (logit > 0) == label.
def test_binary_loss_is_on_logits_and_only_metrics_threshold():
    x = torch.tensor([[2.0], [-0.5], [0.3], [-3.0], [0.1]])
    y = torch.tensor([1, 1, 0, 0, 1])
    model = Classifier(_OneLogit(), num_classes=2, binary=True, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    before = model.net.lin.weight.item()
    trainer = _trainer(max_steps=1, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=batches({"features": x, "label": y}))
    assert model.net.lin.weight.item() != before, "no gradient reached the net"

    logit = torch.tensor([[2.0], [-0.5], [0.3], [-3.0], [0.1]])  # evaluation with known logits
    model.net.lin.weight.data.fill_(1.0)
    model.net.lin.bias.data.zero_()
    out = _trainer().validate(model, batches({"features": x, "label": y}), verbose=False)[0]
    expected = F.binary_cross_entropy_with_logits(logit[:, 0], y.float()).item()
    rounded = F.binary_cross_entropy(torch.sigmoid(logit[:, 0]).round(), y.float()).item()  # the report's loss
    assert out["val/loss"] == pytest.approx(expected, rel=1e-5)
    assert abs(rounded - expected) > 1.0
    assert out["val/acc"] == pytest.approx(float(((logit[:, 0] > 0).long() == y).float().mean()))  # 3 of 5
    # and the flawed loss has no gradient at all
    w = torch.ones(1, requires_grad=True)
    F.binary_cross_entropy(torch.sigmoid(w * x[:, 0]).round(), y.float()).backward()
    assert w.grad is None or float(w.grad.abs().sum()) == 0.0


# --- trec_*: validation loss accumulated on the loss tensor -----------------------------------------------
class _Logits(nn.Module):
    """Returns the batch's ``features`` as logits (plus a trainable zero), and records whether
    autograd was on when it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.zero = nn.Parameter(torch.zeros(1))
        self.grad_enabled: list[bool] = []

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.grad_enabled.append(torch.is_grad_enabled())
        return features + self.zero


# The flaw: the TREC report summed each batch's loss into a tensor (a growing autograd graph) and averaged per batch.
# Fails if: validation runs with autograd on, the logged val/loss carries a graph, or val/loss is the
# plain mean of batch means instead of the mean over examples (the batches here are 1 and 4 long).
def test_validation_loss_is_the_example_mean_without_a_graph():
    g = torch.Generator().manual_seed(0)
    a = {"features": torch.randn(1, 3, generator=g) * 3, "label": torch.tensor([2])}
    b = {"features": torch.randn(4, 3, generator=g), "label": torch.tensor([0, 1, 2, 1])}
    net = _Logits()
    model = Classifier(net, num_classes=3)
    trainer = _trainer(max_epochs=1, limit_train_batches=1)
    trainer.fit(model, train_dataloaders=batches(b), val_dataloaders=batches(a, b))
    val_calls = net.grad_enabled[1:]  # the first call was the training step
    assert net.grad_enabled[0] and val_calls and not any(val_calls)
    logged = trainer.callback_metrics["val/loss"]
    assert logged.grad_fn is None and not logged.requires_grad

    logits = torch.cat([a["features"], b["features"]])
    labels = torch.cat([a["label"], b["label"]])
    per_example = F.cross_entropy(logits, labels).item()
    per_batch = np.mean([F.cross_entropy(x["features"], x["label"]).item() for x in (a, b)])
    assert float(logged) == pytest.approx(per_example, rel=1e-5)
    assert abs(per_batch - per_example) > 0.1


# --- sentiment_bert_gru: BERT without an attention mask, GRU over padding -----------------------------------
# The flaw: the report ran BERT without attention_mask and the GRU over the padded sequence, so a review's
# score depended on the longest review in its batch. Fails if: appending padding (with a real word's
# id in it) changes BertGRU's output. The two flawed pieces are shown to matter on this encoder.
def test_bert_gru_output_unchanged_by_appended_padding():
    torch.manual_seed(0)
    net = BertGRU(encoder_config=TINY_BERT, vocab_size=60, hidden_size=8, dropout=0.0).eval()
    ids = torch.tensor([[4, 17, 23, 9]])
    mask = torch.ones_like(ids)
    padded = torch.cat([ids, torch.full((1, 5), 11)], dim=1)  # id 11 is a real word, not the pad id
    padded_mask = torch.cat([mask, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        alone = net(ids, mask, torch.tensor([4]))
        torch.testing.assert_close(net(padded, padded_mask, torch.tensor([4])), alone, atol=1e-5, rtol=1e-4)

        from lab_modules.nets.pretrained import load_encoder

        bert = load_encoder(None, TINY_BERT, 60).eval()
        masked = bert(input_ids=padded, attention_mask=padded_mask).last_hidden_state[:, :4]
        unmasked = bert(input_ids=padded).last_hidden_state[:, :4]  # no attention_mask, as reported
        assert (masked - unmasked).abs().max() > 1e-2
        gru = nn.GRU(32, 8, batch_first=True)
        _, h_real = gru(masked)
        _, h_over_padding = gru(bert(input_ids=padded, attention_mask=padded_mask).last_hidden_state)  # unpacked
        assert (h_real - h_over_padding).abs().max() > 1e-3


# --- trec_transformer: attention and mean pooling without padding masks ---------------------------------------
# The flaw: the TREC report's Transformer attended to padded keys and averaged padded positions. Fails if: any
# layer gives a padded key a non-zero weight, or the output changes when padding is appended.
def test_trec_transformer_masks_padding_in_attention_and_pooling():
    torch.manual_seed(0)
    net = TransformerTextClassifier(60, 6, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0).eval()
    ids = torch.tensor([[4, 17, 23, 9, 30]])
    padded = torch.cat([ids, torch.full((1, 4), 11)], dim=1)
    mask = torch.cat([torch.ones(1, 5, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)], dim=1)
    with torch.no_grad():
        alone = net(ids, torch.ones_like(ids))
        out = net(padded, mask)
        for weights in net.last_attention:
            assert float(weights[..., 5:].abs().max()) == 0.0
        torch.testing.assert_close(out, alone, atol=1e-5, rtol=1e-4)
        unmasked = net(padded, torch.ones_like(padded))  # what no mask at all gives
        assert (unmasked - alone).abs().max() > 1e-3


# --- attention_toy: the heatmap drawn from untrained weights -------------------------------------------------
# The flaw: the report drew its heatmap from a freshly initialised model. Fails if: the lab's config does not
# train, or the heatmap drawn at the end of training is not the trained net's attention (drawn from the
# initial weights it would equal the attention computed before fit, which differs). Two of the config's
# eight epochs keep the test short; the callback draws at the last epoch whatever the schedule.
def test_attention_toy_heatmap_is_drawn_from_trained_weights(tmp_path, monkeypatch):
    config = TEXT / "attention_toy.yaml"
    assert yaml.safe_load(config.read_text())["trainer"]["max_epochs"] >= 1
    drawn: list[tuple[str, int, np.ndarray]] = []

    def capture(trainer, fig, name, step=None):
        drawn.append((name, trainer.current_epoch, np.array(fig.axes[0].get_images()[0].get_array())))
        plt.close(fig)

    monkeypatch.setattr(callbacks.attention_heatmap, "log_figure", capture)
    built = lab(
        config,
        *QUIET,
        "--trainer.logger",
        "false",
        "--trainer.enable_checkpointing",
        "false",
        "--trainer.max_epochs",
        "2",
        runs_dir=tmp_path,
    )
    model, dm, trainer = built.model, built.datamodule, built.trainer
    (heatmap,) = [cb for cb in trainer.callbacks if isinstance(cb, AttentionHeatmap)]
    texts = heatmap.texts
    assert texts

    def attention() -> list[np.ndarray]:
        batch = dm.encode_texts(texts)
        model.eval()
        with torch.no_grad():
            model(**batch)
        model.train()
        att = model.net.last_attention[-1].float().mean(1)
        return [att[i, :n, :n].numpy() for i, n in enumerate(batch["lengths"].tolist())]

    initial = attention()
    trainer.fit(model, datamodule=dm)
    trained = attention()

    last = {name: (epoch, image) for name, epoch, image in drawn}  # the last figure of each name
    assert len(last) == len(texts)
    for i in range(len(texts)):
        epoch, image = last[f"val/attention_{i}"]
        assert epoch == trainer.max_epochs - 1
        np.testing.assert_allclose(image, trained[i], atol=1e-6)
        assert np.abs(image - initial[i]).max() > 0.05, "the heatmap shows the untrained attention"


# --- sentiment_rnn: the vocabulary built on every split ---------------------------------------------------------
# The flaw: the vocabulary was built on all texts, so words seen only in validation or test had their own
# ids (an information leak). Fails if: a word that occurs only in val/test gets an id other than <unk>,
# or the vocabulary holds more than the training split's words (+ <pad>, <unk>).
@pytest.mark.parametrize("layout", ["folder", "one_file"])
def test_vocabulary_is_built_on_the_training_split_only(tmp_path, layout):
    rows = {
        "train": [("a good film", "pos"), ("a bad film", "neg"), ("good acting", "pos"), ("bad plot", "neg")] * 5,
        "val": [("a zebra film", "pos"), ("bad zebra", "neg")],
        "test": [("a quokka plot", "neg"), ("good quokka", "pos")],
    }
    if layout == "folder":
        for split, rs in rows.items():
            (tmp_path / f"{split}.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rs))
        dm = TextClassificationDataModule(dataset="custom", path=str(tmp_path), batch_size=4)
    else:
        words = [f"w{i}" for i in range(60)]  # 60 words, each in exactly one of 60 texts: the split decides
        (tmp_path / "all.csv").write_text(
            "text,label\n" + "".join(f"the {w},{'pos' if i % 2 else 'neg'}\n" for i, w in enumerate(words))
        )
        dm = TextClassificationDataModule(
            dataset="custom", path=str(tmp_path / "all.csv"), batch_size=4, val_fraction=0.2, test_fraction=0.2
        )
    dm.setup("fit")
    unk = dm.tokens([1])[0]
    assert unk == "<unk>"
    train_words = {w for t in dm.texts("train") for w in t.lower().split()}
    held_out = {w for s in ("val", "test") for t in dm.texts(s) for w in t.lower().split()} - train_words
    assert held_out
    for word in sorted(held_out):
        assert dm.tokens(dm.encode_texts([word])["input_ids"][0].tolist()) == ["<unk>"], word
    for word in sorted(train_words):
        assert dm.tokens(dm.encode_texts([word])["input_ids"][0].tolist()) == [word], word
    assert dm.model_info()["vocab_size"] == len(train_words) + 2
    # the held-out words reach the model as <unk> in the val/test batches, too
    seen = {
        int(i)
        for s in ("val", "test")
        for batch in getattr(dm, f"{s}_dataloader")()
        for i in batch["input_ids"].flatten()
    }
    assert dm.encode_texts(["zzz"])["input_ids"][0].tolist()[0] in seen


# --- attention_toy: pad id 0 that was also a real word ------------------------------------------------------------
# The flaw: the report numbered its words from 0 and padded with 0, so the first word and padding were the
# same token. Fails if: the pad id decodes to anything but the pad token, another id decodes to it, a real
# token in a batch gets the pad id, or the net's embedding does not treat that id as padding.
def test_pad_id_is_only_padding(tmp_path):
    built = lab(TEXT / "attention_toy.yaml", *TINY, runs_dir=tmp_path)
    dm = built.datamodule
    info = dm.model_info()
    pad = info["pad_index"]
    vocab = dm.tokens(list(range(info["vocab_size"])))
    assert vocab[pad] == "<pad>" and vocab.count("<pad>") == 1
    dm.setup("fit")
    for batch in dm.train_dataloader():
        assert torch.equal(batch["input_ids"] == pad, batch["attention_mask"] == 0)
    assert built.model.net.embedding.padding_idx == pad
    # the pretrained tokenizer too: its pad id is [PAD], never a word piece
    bert = TextClassificationDataModule(dataset="toy", toy_size=50, tokenizer=TokenizerOptions(kind="pretrained"))
    info = bert.model_info()
    assert bert.tokens([info["pad_index"]]) == ["[PAD]"]
    ids = bert.encode_texts(["the movie was not good"])["input_ids"][0]
    assert info["pad_index"] not in ids.tolist()


# --- trec_*: validation = test; trec_finetune: test = the last 200 training questions --------------------------
# The flaws: the 25-lab report chose epochs on the test set it then reported; the TREC report tested on the
# last 200 questions of the training file. Fails if: TREC's test split is not the official 500-question file,
# the validation split is not carved from the training file, or validation shares a question with test
# beyond the few that the two official files themselves share.
def test_trec_test_is_the_official_file_and_validation_comes_from_train():
    train_file, test_file = _official_trec("train_5500.label"), _official_trec("TREC_10.label")
    dm = TextClassificationDataModule(dataset="trec", source="embedded")
    dm.setup("fit")
    val, test = dm.texts("val"), dm.texts("test")
    assert sorted(test) == sorted(test_file) and len(test) == 500
    assert sorted(test) != sorted(train_file[-200:]) and sorted(test) != sorted(val)
    assert set(val) <= set(train_file) and len(val) > 0
    both_files = set(train_file) & set(test_file)  # a handful; removing them from train is allowed, not required
    assert set(val) & set(test) <= both_files


# The same on a TREC folder of your own, where the files share nothing: validation and test are disjoint.
def test_trec_folder_validation_and_test_are_disjoint(tmp_path):
    train = [f"{('HUM:ind', 'NUM:count')[i % 2]} Who wrote book number {i} ?" for i in range(40)]  # two classes
    test = [f"NUM:date When was event {i} ?" for i in range(6)]
    (tmp_path / "train_5500.label").write_text("\n".join(train) + "\n")
    (tmp_path / "TREC_10.label").write_text("\n".join(test) + "\n")
    dm = TextClassificationDataModule(dataset="trec", path=str(tmp_path), val_fraction=0.25)
    dm.setup("fit")
    questions = [ln.split(" ", 1)[1] for ln in train]
    assert dm.texts("test") == [ln.split(" ", 1)[1] for ln in test]
    assert dm.texts("test") != questions[-6:]
    assert len(dm.texts("val")) == 10 and set(dm.texts("val")) <= set(questions)
    assert not set(dm.texts("val")) & set(dm.texts("test"))
    assert sorted(dm.texts("val") + dm.texts("train")) == sorted(questions)


# --- sentiment_bow_mlp: the "best model" that was a reference to the live state dict ---------------------------
# The flaw: the report kept best = model.state_dict() (a reference), so "best" silently became the last weights.
# The best checkpoint is forced to the first epoch here (monitor: step, mode: min) and the lab's periodic
# checkpoint saves every epoch. Fails if: the best checkpoint's weights are not those of its epoch (or
# equal the final ones), or --test_after_fit tests anything but the best checkpoint (its test loss must be
# the best checkpoint's, which differs from the final weights').
def test_best_checkpoint_holds_the_best_epoch_and_is_what_gets_tested(tmp_path):
    cfg = str(TEXT / "sentiment_bow_mlp.yaml")
    every_epoch = '[{"class_path": "callbacks.PeriodicCheckpoint", "init_args": {"every_n_epochs": 1}}]'
    small = [*TINY, "--trainer.callbacks", every_epoch, "--data.init_args.tokenizer.max_vocab_size", "2000"]
    run = cli(
        "fit",
        "--config",
        cfg,
        *small,
        "--trainer.max_epochs",
        "3",
        "--checkpoint.monitor",
        "step",
        "--checkpoint.mode",
        "min",
        "--model.init_args.optimizer.init_args.lr",
        "1e-2",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path / "runs",
        lab="fit",
    )
    s = summary(run)

    def weights(path) -> dict:
        return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]

    best = torch.load(s["best_checkpoint"], map_location="cpu", weights_only=True)
    assert best["epoch"] == 0
    first, final = (
        weights(run / "checkpoints" / "every1-epoch001.ckpt"),
        weights(run / "checkpoints" / "every1-epoch003.ckpt"),
    )
    for k, v in best["state_dict"].items():
        torch.testing.assert_close(v, first[k], rtol=0, atol=0)
    assert any(not torch.equal(v, final[k]) for k, v in best["state_dict"].items()), "best holds the final weights"

    def test_loss(ckpt) -> float:
        out = cli("test", "--config", cfg, *small, "--ckpt_path", str(ckpt), runs_dir=tmp_path / "runs", lab="test")
        return summary(out)["test"]["test/loss"]

    assert s["test"]["test/loss"] == pytest.approx(test_loss(s["best_checkpoint"]), rel=1e-6)
    assert s["test"]["test/loss"] != pytest.approx(test_loss(run / "checkpoints" / "every1-epoch003.ckpt"), rel=1e-4)
