"""Text nets: our attention vs PyTorch's, padding invariance, parameter-count pins, encoder cache."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

from lab_modules.nets import (
    AttentionToyClassifier,
    BagOfWordsMLP,
    BertGRU,
    EncoderClassifier,
    MultiHeadAttention,
    PrefixTuningClassifier,
    RNNTextClassifier,
    TransformerTextClassifier,
    count_parameters,
)
from lab_modules.nets.attention import scaled_dot_product
from lab_modules.nets.encoder_cache import CachedFrozenEncoder

TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


def test_scaled_dot_product_matches_torch_with_padding_mask():
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 6, 8, dtype=torch.float64) for _ in range(3))
    key_mask = torch.ones(3, 6, dtype=torch.long)
    key_mask[1, 4:] = 0
    key_mask[2, 2:] = 0
    ours, weights = scaled_dot_product(q, k, v, key_mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask.bool()[:, None, None, :])
    torch.testing.assert_close(ours, ref)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 6, dtype=torch.float64))
    assert (weights[1, :, :, 4:] == 0).all()


def test_multi_head_attention_matches_torch_multihead():
    torch.manual_seed(0)
    ours = MultiHeadAttention(16, 4).double().eval()
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True).double().eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    out, w = ours(x, x, x, mask)
    ref_out, ref_w = ref(x, x, x, key_padding_mask=mask == 0, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)


def _nets():
    return [
        RNNTextClassifier(60, 3, cell="lstm", num_layers=2, bidirectional=True, embedding_dim=8, hidden_size=8),
        RNNTextClassifier(60, 3, cell="gru", embedding_dim=8, hidden_size=8),
        BagOfWordsMLP(60, 3, hidden=[16]),
        TransformerTextClassifier(60, 3, d_model=16, num_heads=2, num_layers=2, d_ff=32),
        AttentionToyClassifier(60, 3),
        EncoderClassifier(encoder_config=TINY_BERT, vocab_size=60, num_classes=3, trainable_layers=1),
        EncoderClassifier(encoder_config=TINY_BERT, vocab_size=60, num_classes=3, trainable_layers=0),
        BertGRU(encoder_config=TINY_BERT, vocab_size=60, hidden_size=8),
        PrefixTuningClassifier(encoder_config=TINY_BERT, vocab_size=60, num_classes=3, prefix_length=4),
        PrefixTuningClassifier(encoder_config=TINY_BERT, vocab_size=60, num_classes=3, prefix_length=None),
    ]


def _call(net, ids, mask):
    batch = {"input_ids": ids, "attention_mask": mask, "lengths": mask.sum(1)}
    names = inspect.signature(net.forward).parameters
    return net(**{k: v for k, v in batch.items() if k in names})


def test_padding_never_changes_a_prediction():
    torch.manual_seed(0)
    ids = torch.randint(2, 60, (4, 9))
    lengths = torch.tensor([9, 5, 3, 1])
    mask = (torch.arange(9)[None] < lengths[:, None]).long()
    ids = ids * mask  # pad index 0
    for net in _nets():
        net.eval()
        with torch.no_grad():
            batched = _call(net, ids, mask)
            for i, n in enumerate(lengths.tolist()):
                alone = _call(net, ids[i : i + 1, :n], mask[i : i + 1, :n])
                torch.testing.assert_close(
                    batched[i : i + 1],
                    alone,
                    atol=1e-5,
                    rtol=1e-4,
                    msg=f"{type(net).__name__}: padding changed the output",
                )
                # and garbage in padded positions is ignored too
                noisy = ids[i : i + 1].clone()
                noisy[0, n:] = 7
                torch.testing.assert_close(
                    _call(net, noisy, mask[i : i + 1]) if not isinstance(net, BagOfWordsMLP) else alone,
                    alone,
                    atol=1e-5,
                    rtol=1e-4,
                )


def test_parameter_count_pins():
    with torch.device("meta"):
        net = BertGRU(encoder_config={}, vocab_size=30522)  # random-init BertConfig(): the report's bert-base-uncased
    assert count_parameters(net) == 112_241_409
    assert count_parameters(net, trainable_only=True) == 2_759_169
    assert count_parameters(BagOfWordsMLP(10000, 2)) == 5_293_122


def test_prefix_tuning_trains_only_prefix_and_head():
    net = PrefixTuningClassifier(encoder_config=TINY_BERT, vocab_size=60, num_classes=6, prefix_length=5)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"prefix", "head.0.weight", "head.0.bias"}
    assert count_parameters(net, True) == 5 * 32 + 32 * 6 + 6
    head_only = PrefixTuningClassifier(encoder_config=TINY_BERT, vocab_size=60, num_classes=6, prefix_length=None)
    assert count_parameters(head_only, True) == 32 * 6 + 6
    finetune = EncoderClassifier(encoder_config=TINY_BERT, vocab_size=60, num_classes=6, trainable_layers=1)
    names = {
        ".".join(n.split(".")[:4]) if n.startswith("encoder.") else n.split(".")[0]
        for n, p in finetune.named_parameters()
        if p.requires_grad
    }
    assert names == {"encoder.encoder.layer.1", "head"}  # last layer (index 1 of 2) and the head only


def test_encoder_cache_matches_and_skips_the_encoder(tmp_path):
    torch.manual_seed(0)
    from lab_modules.nets.pretrained import load_encoder

    enc = load_encoder(None, TINY_BERT, 60)
    plain = CachedFrozenEncoder(enc, cache=False)
    cached = CachedFrozenEncoder(enc, cache=True, cache_dir=str(tmp_path), cache_dtype="float32")
    ids = torch.randint(2, 60, (3, 6))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    ids = ids * mask
    ref = plain(ids, mask)
    first = cached(ids, mask)
    calls = []
    enc.register_forward_hook(lambda *a: calls.append(1))
    second = cached(ids[[2, 0]], mask[[2, 0]])
    assert not calls, "the cached encoder ran again"
    for out, rows in ((first, [0, 1, 2]), (second, [2, 0])):
        for j, i in enumerate(rows):
            n = int(mask[i].sum())
            torch.testing.assert_close(out[j, :n], ref[i, :n], atol=1e-5, rtol=1e-5)
    again = CachedFrozenEncoder(enc, cache=True, cache_dir=str(tmp_path), cache_dtype="float32")
    again(ids, mask)
    assert again._cache.hits == 3 and again._cache.misses == 0  # read back from disk by a new process
    with torch.no_grad():
        enc.embeddings.word_embeddings.weight.add_(1.0)
    changed = CachedFrozenEncoder(enc, cache=True, cache_dir=str(tmp_path))
    changed(ids, mask)
    assert changed._cache.misses == 3  # other weights -> other cache, never stale outputs


def test_binary_net_needs_two_classes():
    with pytest.raises(ValueError):
        BertGRU(encoder_config=TINY_BERT, vocab_size=60, num_classes=3, binary=True)


def test_pretrained_encoder_refuses_word_level_ids():
    from datamodules import TextClassificationDataModule
    from labcore.errors import LabError

    assert TextClassificationDataModule(dataset="toy", toy_size=50).model_info()["tokenizer"] == "vocab"
    assert {"pad_index", "tokenizer", "class_names"} <= TextClassificationDataModule.optional_model_info
    for make in (EncoderClassifier, BertGRU, PrefixTuningClassifier):
        with pytest.raises(LabError, match="--data.init_args.tokenizer.kind pretrained") as err:
            make(vocab_size=500, num_classes=2, tokenizer="vocab")  # a vocabulary smaller than BERT's
        assert "\n" not in str(err.value)
        make(encoder_config=TINY_BERT, vocab_size=60, num_classes=2, tokenizer="vocab")  # random init: word ids fine
