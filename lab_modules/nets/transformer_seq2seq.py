"""The encoder-decoder Transformer of the translation report (``nn.Transformer``) with every mask it needs."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lab_modules.nets.seq2seq_base import Seq2SeqNet, State
from labcore.errors import LabError


class SinusoidalPositions(nn.Module):
    """Fixed sine/cosine positions added to embeddings scaled by sqrt(d_model) (Vaswani et al.)."""

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        self.d_model = d_model
        self.register_buffer("pe", self._table(max_len), persistent=False)

    def _table(self, n: int) -> Tensor:
        pos = torch.arange(n, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, self.d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / self.d_model))
        pe = torch.zeros(n, self.d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        return pe

    def forward(self, emb: Tensor) -> Tensor:
        n = emb.shape[1]
        pe = self.pe if n <= len(self.pe) else self._table(n).to(emb.device)  # longer inputs: extend, never crash
        return emb * math.sqrt(self.d_model) + pe[:n].to(emb.dtype)


class TransformerSeq2Seq(Seq2SeqNet):
    """Token + sinusoidal position embeddings -> ``nn.Transformer`` -> vocabulary.

    Masks: causal (a target position sees only earlier ones), target padding, source padding
    (encoder self-attention) and memory padding (decoder cross-attention). The report's: d_model 256,
    4 heads, 3 + 3 layers.

    Args:
        src_vocab_size / tgt_vocab_size / pad_index: filled from the data.
        share_embeddings: one embedding table for source and target (needs one vocabulary:
            ``--data.init_args.tokenizer.joint_vocab true``).
        tie_output: the output layer reuses the target embedding matrix.
        keep_attention: record the last decoder layer's cross-attention at each ``decode_step``
            (per head) for the heatmap figures (costs a second attention pass).
    """

    def __init__(
        self,
        src_vocab_size: int = 1000,
        tgt_vocab_size: int = 1000,
        pad_index: int = 0,
        d_model: int = 256,
        nhead: int = 4,
        num_encoder_layers: int = 3,
        num_decoder_layers: int = 3,
        dim_feedforward: int = 512,
        dropout: float = 0.1,
        max_len: int = 512,
        share_embeddings: bool = False,
        tie_output: bool = False,
    ) -> None:
        super().__init__()
        self.pad_index = pad_index
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_index)
        if share_embeddings:
            if src_vocab_size != tgt_vocab_size:
                raise LabError(
                    f"share_embeddings needs one vocabulary, the data has {src_vocab_size} source and "
                    f"{tgt_vocab_size} target tokens; pass --data.init_args.tokenizer.joint_vocab true"
                )
            self.tgt_embedding = self.src_embedding
        else:
            self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_index)
        self.positions = SinusoidalPositions(d_model, max_len)
        self.dropout = nn.Dropout(dropout)
        self.transformer = nn.Transformer(
            d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout, batch_first=True
        )
        # no nested tensors: padded positions stay ordinary values, so batched == one by one
        self.transformer.encoder.enable_nested_tensor = False
        self.transformer.encoder.use_nested_tensor = False
        self.out = nn.Linear(d_model, tgt_vocab_size)
        if tie_output:
            self.out.weight = self.tgt_embedding.weight
        self.keep_attention = False
        self._cross: Tensor | None = None
        self._in_hook = False
        self.transformer.decoder.layers[-1].multihead_attn.register_forward_hook(self._record, with_kwargs=True)

    def _record(self, module: nn.MultiheadAttention, args: tuple, kwargs: dict, output: tuple) -> None:
        if not self.keep_attention or self._in_hook:
            return
        self._in_hook = True
        try:
            q, k, v = (list(args) + [kwargs.get(n) for n in ("query", "key", "value")])[:3]
            _, w = module(
                q, k, v, key_padding_mask=kwargs.get("key_padding_mask"), need_weights=True, average_attn_weights=False
            )
            self._cross = w.detach()  # N x heads x T x S
        finally:
            self._in_hook = False

    @staticmethod
    def causal_mask(n: int, device: torch.device) -> Tensor:
        """True above the diagonal: position i may not attend to j > i."""
        return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> State:
        src_pad = ~src_mask.bool()
        memory = self.transformer.encoder(
            self.dropout(self.positions(self.src_embedding(src_ids))), src_key_padding_mask=src_pad
        )
        return {"memory": memory, "src_pad": src_pad, "prefix": src_ids.new_zeros(src_ids.shape[0], 0)}

    def _decode(self, tgt_in: Tensor, memory: Tensor, src_pad: Tensor, tgt_pad: Tensor | None) -> Tensor:
        x = self.dropout(self.positions(self.tgt_embedding(tgt_in)))
        out = self.transformer.decoder(
            x,
            memory,
            tgt_mask=self.causal_mask(tgt_in.shape[1], tgt_in.device),
            tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=src_pad,
        )
        return self.out(out)

    def decode_step(self, state: State, prev: Tensor) -> tuple[Tensor, State, Tensor | None]:
        prefix = torch.cat([state["prefix"], prev[:, None]], dim=1)
        logits = self._decode(prefix, state["memory"], state["src_pad"], None)[:, -1]
        attn = self._cross[:, :, -1] if self.keep_attention and self._cross is not None else None
        return logits, {**state, "prefix": prefix}, attn

    def forward(self, src_ids: Tensor, src_mask: Tensor, tgt_in: Tensor, teacher_forcing: float = 1.0) -> Tensor:
        if teacher_forcing < 1.0:  # the model's own predictions need step-by-step decoding
            return super().forward(src_ids, src_mask, tgt_in, teacher_forcing)
        state = self.encode(src_ids, src_mask)
        return self._decode(tgt_in, state["memory"], state["src_pad"], tgt_in == self.pad_index)
