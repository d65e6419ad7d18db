"""Translation attention figures: the drawn map is the stored attention, rows = output tokens, cols = source."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import callbacks.translation_figures as tf
from callbacks.translation_figures import TranslationAttention
from labcore.errors import LabError

T, HEADS, S = 3, 2, 4  # output tokens (2 words + <eos>), heads, source tokens


def _attention() -> torch.Tensor:
    """A known T x heads x S pattern: head 0 looks at source token t, head 1 at source token S-1-t."""
    w = torch.zeros(T, HEADS, S)
    for t in range(T):
        w[t, 0, t] = 1.0
        w[t, 1, S - 1 - t] = 1.0
    return w


class _Module:
    device = torch.device("cpu")
    training = False

    def translate(self, src_ids, src_mask, beam=False, keep_attention=False):
        return [[5, 6]], [_attention()]

    def to_text(self, ids):
        return " ".join(map(str, ids))

    def eval(self):
        return self

    def train(self, mode=True):
        return self


class _Data:
    def texts(self, split):
        return ["a b c"], ["x y"]

    def encode_pairs(self, sources, targets=None):
        return {"src_ids": torch.tensor([[4, 5, 6, 3]]), "src_mask": torch.ones(1, S, dtype=torch.long)}

    def source_tokens(self, ids):
        return [f"s{i}" for i in ids]

    def target_tokens(self, ids):
        return [f"t{i}" for i in ids]


def _drawn(monkeypatch, head):
    figs = []
    monkeypatch.setattr(tf, "log_figure", lambda trainer, fig, name: figs.append(fig))
    trainer = SimpleNamespace(datamodule=_Data(), current_epoch=0)
    TranslationAttention(num_examples=1, head=head).draw(trainer, _Module(), "val")
    (fig,) = figs
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    return ax.images[0].get_array().data, rows, cols


@pytest.mark.parametrize("head", [None, 0, 1])
def test_transformer_attention_is_drawn_as_given(monkeypatch, head):
    data, rows, cols = _drawn(monkeypatch, head)
    w = _attention()
    expected = w.mean(1) if head is None else w[:, head]  # output tokens x source tokens
    assert data.shape == (T, S)
    assert torch.allclose(torch.as_tensor(data, dtype=torch.float32), expected)
    assert rows == ["t5", "t6", "<eos>"] and cols == ["s4", "s5", "s6", "s3"]


def test_a_head_the_net_lacks_is_an_error(monkeypatch):
    with pytest.raises(LabError, match="head=2"):
        _drawn(monkeypatch, 2)
