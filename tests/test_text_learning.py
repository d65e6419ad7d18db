"""Each text model kind learns the toy pairs (seeded, small, plain PyTorch loop)."""

from __future__ import annotations

import inspect

import pytest
import torch
from lightning.pytorch import seed_everything

from datamodules import TextClassificationDataModule
from datamodules.text_tokenizer import TokenizerOptions
from lab_modules.nets import (
    AttentionToyClassifier,
    BagOfWordsMLP,
    EncoderClassifier,
    PrefixTuningClassifier,
    RNNTextClassifier,
    TransformerTextClassifier,
)


def _data(tokenizer: str, size: int) -> TextClassificationDataModule:
    dm = TextClassificationDataModule(
        dataset="toy", toy_size=size, tokenizer=TokenizerOptions(kind=tokenizer, max_length=16), batch_size=32
    )
    dm.setup("fit")
    return dm


def _run(net, dm, lr: float, epochs: int) -> float:
    names = inspect.signature(net.forward).parameters
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    for _ in range(epochs):
        net.train()
        for batch in dm.train_dataloader():
            loss = torch.nn.functional.cross_entropy(
                net(**{k: v for k, v in batch.items() if k in names}), batch["label"]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in dm.val_dataloader():
            pred = net(**{k: v for k, v in batch.items() if k in names}).argmax(-1)
            correct += int((pred == batch["label"]).sum())
            total += len(pred)
    return correct / total


@pytest.mark.parametrize("kind", ["lstm", "gru", "bow", "transformer", "attention_toy"])
def test_own_vocabulary_models_learn(kind):
    seed_everything(0)
    dm = _data("vocab", 2000)
    v = dm.model_info()["vocab_size"]
    net = {
        "lstm": lambda: RNNTextClassifier(v, 2, cell="lstm", embedding_dim=16, hidden_size=16, bidirectional=True),
        "gru": lambda: RNNTextClassifier(v, 2, cell="gru", embedding_dim=16, hidden_size=16),
        "bow": lambda: BagOfWordsMLP(v, 2, hidden=[32], dropout=0.0),
        "transformer": lambda: TransformerTextClassifier(
            v, 2, d_model=32, num_heads=2, num_layers=1, d_ff=64, dropout=0.0
        ),
        "attention_toy": lambda: AttentionToyClassifier(v, 2),
    }[kind]()
    acc = _run(net, dm, lr=1e-2, epochs=6)
    # bag of words cannot see where "not" is, but on these pairs counts suffice
    assert acc >= 0.95, f"{kind}: val acc {acc:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["finetune", "prefix"])
def test_encoder_models_learn(kind):
    # The pretrained offline encoder: a tiny random BERT does not learn these pairs in a test's budget.
    seed_everything(0)
    dm = _data("pretrained", 800)
    v = dm.model_info()["vocab_size"]
    if kind == "finetune":
        net = EncoderClassifier(vocab_size=v, num_classes=2, trainable_layers=1, hidden=[32], dropout=0.0)
        acc = _run(net, dm, lr=1e-3, epochs=1)
    else:
        net = PrefixTuningClassifier(vocab_size=v, num_classes=2, prefix_length=8, hidden=[32], dropout=0.0)
        acc = _run(net, dm, lr=1e-2, epochs=1)
    assert acc >= 0.8, f"{kind}: val acc {acc:.3f}"
