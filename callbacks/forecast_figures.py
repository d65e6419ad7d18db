"""Forecast vs actual (with the naive baseline) and residual figures over the test period, in real units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from lightning.pytorch import Callback, Trainer

from callbacks.figures import log_figure, plt

if TYPE_CHECKING:
    from lab_modules.regressor import Regressor


@torch.no_grad()
def forecast_table(pl_module: Regressor, dataset: Any, batch_size: int = 512) -> dict[str, np.ndarray]:
    """``pred``, ``target`` and (where the data has it) ``baseline``: N x out arrays in real units,
    over every window of ``dataset`` in order (a dataset with ``__getitems__`` returning dict batches)."""
    was_training = pl_module.training
    pl_module.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for lo in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(lo, min(lo + batch_size, len(dataset)))))
        batch = {k: v.to(pl_module.device) for k, v in batch.items()}
        for k, v in pl_module.predict_step(batch, 0).items():
            parts.setdefault(k, []).append(v.float().cpu().numpy())
    pl_module.train(was_training)
    return {k: np.concatenate(v) for k, v in parts.items()}


class ForecastFigures(Callback):
    """After ``test`` (and every ``every_n_epochs`` validation epochs, 0 = never): the ``split``'s
    forecasts of output ``output`` (default the first: the next step of the first target) against
    the actual values and the naive last-value forecast, dated where the datamodule offers
    ``target_dates(split)``, and the residuals (actual - forecast) over time and as a histogram.
    Both in real units, titled with RMSE / MAE of model and naive. ``last_n`` limits the plotted
    period (None: all of it). Every rank computes (the figures are cheap), rank 0 writes."""

    def __init__(self, output: int = 0, last_n: int | None = 365, every_n_epochs: int = 0) -> None:
        self.output, self.last_n, self.every_n_epochs = output, last_n, every_n_epochs

    def _draw(self, trainer: Trainer, pl_module: Regressor, split: str) -> None:
        dm = trainer.datamodule
        datasets = getattr(dm, "datasets", {})
        if split not in datasets or not len(datasets[split]) or not hasattr(pl_module, "predict_step"):
            return
        table = forecast_table(pl_module, datasets[split])
        if "target" not in table:
            return
        j = min(self.output, table["pred"].shape[1] - 1)
        pred, actual = table["pred"][:, j], table["target"][:, j]
        naive = table["baseline"][:, j] if "baseline" in table else None
        x: Any = np.arange(len(pred))
        if hasattr(dm, "target_dates"):
            x = np.asarray(dm.target_dates(split))  # first target step: exact for output 0
        names = list(getattr(pl_module, "target_names", [])) or [f"y{j}"]
        name = names[j] if j < len(names) else f"y{j}"
        keep = slice(-self.last_n, None) if self.last_n else slice(None)

        def scores(p: np.ndarray) -> str:
            return f"RMSE {np.sqrt(np.mean((p - actual) ** 2)):.3f}, MAE {np.mean(np.abs(p - actual)):.3f}"

        fig, ax = plt.subplots(figsize=(11, 4))
        ax.plot(x[keep], actual[keep], color="black", lw=1.2, label="actual")
        ax.plot(x[keep], pred[keep], color="tab:red", lw=1.0, label=f"model ({scores(pred)})")
        if naive is not None:
            ax.plot(
                x[keep], naive[keep], color="tab:gray", lw=0.8, ls="--", label=f"naive last value ({scores(naive)})"
            )
        ax.set_title(f"{split}: {name} forecast vs actual (scores over all {len(pred)} {split} windows)")
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        log_figure(trainer, fig, f"{split}/forecast")

        residual = actual - pred
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 1]})
        left.plot(x, residual, lw=0.8, color="tab:blue")
        left.axhline(0, color="black", lw=0.8)
        left.set_title(f"{split}: residual actual - forecast ({name}), mean {residual.mean():.3f}")
        right.hist(residual, bins=40, color="tab:blue", orientation="horizontal")
        right.set_title("distribution")
        left.tick_params(axis="x", labelrotation=30)
        log_figure(trainer, fig, f"{split}/residuals")

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: Regressor) -> None:
        if trainer.sanity_checking or not self.every_n_epochs:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._draw(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: Regressor) -> None:
        self._draw(trainer, pl_module, "test")
