"""What the seq2seq task module calls on a translation net (``lab_modules.seq2seq.Seq2Seq``).

A net encodes once and decodes one token at a time, with a decoder *state* that is a dict of
tensors whose first dimension is the batch: beam search reorders and repeats hypotheses with
``select`` alone, whatever the net keeps (LSTM states, encoder outputs, the Transformer's memory
and prefix).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

State = dict[str, Tensor]


class Seq2SeqNet(nn.Module):
    """Base of the translation nets.

    Subclasses implement ``encode(src_ids, src_mask) -> state`` and ``decode_step(state, prev) ->
    (logits N x V, state, attention N x [heads x] S or None)``. ``forward`` is teacher forcing with
    ratio ``teacher_forcing``: at every step each sentence is fed the reference token with that
    probability, else its own previous prediction (1.0: always the reference).
    """

    pad_index: int = 0

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> State:
        raise NotImplementedError

    def decode_step(self, state: State, prev: Tensor) -> tuple[Tensor, State, Tensor | None]:
        raise NotImplementedError

    @staticmethod
    def select(state: State, index: Tensor) -> State:
        """The state of hypotheses ``index`` (repeat, reorder or drop along the batch dimension)."""
        return {k: v.index_select(0, index) for k, v in state.items()}

    def forward(self, src_ids: Tensor, src_mask: Tensor, tgt_in: Tensor, teacher_forcing: float = 1.0) -> Tensor:
        """Logits N x T x V for the decoder inputs ``tgt_in`` (``<bos> y1 .. y_{T-1}``)."""
        state = self.encode(src_ids, src_mask)
        prev = tgt_in[:, 0]
        out = []
        for t in range(tgt_in.shape[1]):
            logits, state, _ = self.decode_step(state, prev)
            out.append(logits)
            if t + 1 < tgt_in.shape[1]:
                prev = tgt_in[:, t + 1]
                if teacher_forcing < 1.0:
                    own = torch.rand(prev.shape, device=prev.device) >= teacher_forcing
                    prev = torch.where(own, logits.argmax(-1), prev)
        return torch.stack(out, dim=1)
