"""RNG and running-metric states of a run, as values ``torch.load(weights_only=True)`` accepts.

Used by ``callbacks.resume_state.ResumeState`` (which decides when to take and restore them).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
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
            out[name] = {"state": state, "updates": int(m.update_count)}
    return out


def restore_metric_states(module: torch.nn.Module, states: dict[str, dict[str, Any]]) -> None:
    """Put ``metric_states()``' values back: ``reset()``, then each registered state by its public name.
    The update count has no public setter; without it ``compute()`` would warn that ``update`` never ran
    and a ``MetricCollection``'s compute groups would treat the metric as empty."""
    metrics = dict(module.named_modules())
    for name, saved in states.items():
        m = metrics.get(name)
        if not isinstance(m, Metric):
            continue
        m.reset()
        for k, v in saved["state"].items():
            setattr(m, k, [t.to(m.device) for t in v] if isinstance(v, list) else v.to(m.device))
        set_update_count(m, saved["updates"])


def set_update_count(metric: Metric, count: int) -> None:
    """torchmetrics' ``Metric.update_count`` is read-only; its backing field is the one private name here."""
    metric._update_count = count
