"""Learning-rate schedules not in torch (stepped per optimizer step: ``scheduler_interval: step``)."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class LinearWarmupDecay(LambdaLR):
    """Linear warm-up over ``warmup_fraction`` of ``total_steps``, then linear decay to 0
    (transformers' ``get_linear_schedule_with_warmup``). ``total_steps`` is filled from the
    trainer when left unset (``lab_modules.optim``)."""

    def __init__(
        self, optimizer: Optimizer, total_steps: int | None = None, warmup_fraction: float = 0.1, last_epoch: int = -1
    ) -> None:
        if not total_steps:
            raise ValueError(
                "LinearWarmupDecay needs total_steps (filled from the trainer with scheduler_interval: step)"
            )
        warmup = max(1, int(round(warmup_fraction * total_steps)))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        super().__init__(optimizer, factor, last_epoch)
