"""RNG and running-metric states in every checkpoint, restored at the first training batch of a resumed run."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torchmetrics import Metric, MetricCollection


def capture() -> dict[str, Any]:
    """The global RNG states of this process, as values ``torch.load(weights_only=True)`` accepts."""
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore(states: dict[str, Any]) -> None:
    """Set the global RNG states from ``capture()``'s dict."""
    py = states["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def metric_states(module: torch.nn.Module) -> dict[str, dict[str, Any]]:
    """The accumulated state of every torchmetrics metric in ``module`` (not in its ``state_dict``:
    torchmetrics registers it as non-persistent), by module name."""
    out = {}
    for name, m in module.named_modules():
        if isinstance(m, Metric) and not isinstance(m, MetricCollection):
            state = {
                k: ([t.clone() for t in v] if isinstance(v, list) else v.clone()) for k, v in m.metric_state.items()
            }
            out[name] = {"state": state, "updates": int(m._update_count)}
    return out


def restore_metric_states(module: torch.nn.Module, states: dict[str, dict[str, Any]]) -> None:
    metrics = dict(module.named_modules())
    for name, saved in states.items():
        m = metrics.get(name)
        if not isinstance(m, Metric):
            continue
        for k, v in saved["state"].items():
            setattr(m, k, [t.to(m.device) for t in v] if isinstance(v, list) else v.to(m.device))
        m._update_count = saved["updates"]
        m._computed = None


class ResumeState(Callback):
    """What a mid-epoch resume needs beyond Lightning's checkpoint: the RNG states and, in a checkpoint
    written mid-epoch, the accumulated torchmetrics states (the epoch's running train loss / accuracy).

    Both are taken when the checkpoint is written (for a mid-epoch checkpoint, the state the next batch
    starts from) and restored at the first training batch after ``--ckpt_path``, i.e. after everything a
    restart does differently (building loaders, the sanity check). The CLI puts this callback first so no
    other ``on_train_batch_start`` draws random numbers before it. Metric states are not taken at an
    epoch's end: the epoch-end hooks reset them after the checkpoint is written.

    Under DDP the checkpoint holds rank 0's states and every rank restores them (``seed_everything``
    gives all ranks the same RNG states; metric states are per rank, so a DDP resume is exact for the
    weights, not for the epoch's running train metrics).
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None
        self._module: LightningModule | None = None
        self._trainer: Trainer | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._trainer, self._module = trainer, pl_module

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rng": capture()}
        trainer = self._trainer
        if trainer is not None and self._module is not None and trainer.state.fn == "fit":
            if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
                state["metrics"] = metric_states(self._module)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict if state_dict else None

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is not None:
            restore(self._pending["rng"])
            if "metrics" in self._pending:
                restore_metric_states(pl_module, self._pending["metrics"])
            self._pending = None
