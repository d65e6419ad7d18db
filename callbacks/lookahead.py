"""airbench's Lookahead: every few steps the weights are pulled into, then replaced by, an average of themselves."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from labcore.errors import LabError


class Lookahead(Callback):
    """After every ``every``-th optimizer step ``s`` of ``T`` (the trainer's estimate), ``avg = d * avg + (1 - d) * w``
    with ``d = decay * (s / T) ** power``, then ``w = avg``, over the float tensors of ``<module>``'s state dict
    (BatchNorm statistics too); after the last step ``w = avg``. airbench94: ``every=5, decay=0.95**5, power=3``.
    The average is saved in checkpoints (a resumed run continues it)."""

    def __init__(self, module: str = "net", every: int = 5, decay: float = 0.95**5, power: float = 3.0) -> None:
        if every < 1 or not 0 <= decay <= 1:
            raise LabError(f"Lookahead every={every}, decay={decay}: pass every >= 1 and 0 <= decay <= 1")
        self.module, self.every, self.decay, self.power = module, every, decay, power
        self.average: dict[str, torch.Tensor] | None = None

    def _tensors(self, pl_module: LightningModule) -> dict[str, torch.Tensor]:
        net = getattr(pl_module, self.module, None)
        if not isinstance(net, torch.nn.Module):
            raise LabError(f"Lookahead module={self.module!r}: the task module has no such net; pass its attribute")
        return {k: v for k, v in net.state_dict(keep_vars=True).items() if v.is_floating_point()}

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        current = self._tensors(pl_module)
        if self.average is None or self.average.keys() != current.keys():
            self.average = {k: v.detach().clone() for k, v in current.items()}
        else:  # restored from a checkpoint: onto this run's device
            self.average = {k: v.to(current[k].device) for k, v in self.average.items()}

    @torch.no_grad()
    def _update(self, pl_module: LightningModule, decay: float) -> None:
        for k, w in self._tensors(pl_module).items():
            avg = self.average[k]
            avg.lerp_(w.detach(), 1 - decay)
            w.data.copy_(avg)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        step, total = trainer.global_step, max(1, int(trainer.estimated_stepping_batches))
        if step % self.every == 0 and step > 0:
            self._update(pl_module, self.decay * min(1.0, step / total) ** self.power)
        if step >= total:
            self._update(pl_module, 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.average = state_dict.get("average")
