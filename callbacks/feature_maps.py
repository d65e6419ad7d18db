"""Activations of named layers for a fixed set of inputs, captured with forward hooks."""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from callbacks.figures import log_figure, plt, to_display
from callbacks.layers import dataset, fixed_batch, minmax, named_layer, normalization
from labcore.errors import LabError


class FeatureMaps(Callback):
    """For ``n_inputs`` fixed examples of ``split`` (seeded draw), the outputs of each layer in
    ``layers`` (names such as ``net.conv1``; captured by forward hooks): one figure per layer,
    one row per input: the input with its label (and the prediction), then the first
    ``max_maps`` channels, each min-max scaled. Vector outputs (N x F, e.g. an MLP's hidden
    layer) are drawn as one heatmap row per input. Drawn at the end of fit (trained), and before
    training too when ``before_training``.
    """

    def __init__(
        self,
        layers: list[str],
        n_inputs: int = 4,
        max_maps: int = 16,
        split: str = "val",
        seed: int = 0,
        before_training: bool = False,
        image_key: str = "image",
        label_key: str = "label",
    ) -> None:
        if not layers:
            raise LabError("FeatureMaps needs layers: [net.conv1, ...]")
        self.layers, self.n_inputs, self.max_maps, self.split = list(layers), n_inputs, max_maps, split
        self.seed, self.before_training = seed, before_training
        self.image_key, self.label_key = image_key, label_key

    @torch.no_grad()
    def capture(
        self, pl_module: LightningModule, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``({layer: output}, logits)`` for ``batch`` in eval mode."""
        outputs: dict[str, torch.Tensor] = {}
        handles = [
            named_layer(pl_module, name).register_forward_hook(
                lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach().float().cpu())
            )
            for name in self.layers
        ]
        was_training = pl_module.training
        pl_module.eval()
        try:
            inputs = {k: v.to(pl_module.device) for k, v in batch.items() if k != self.label_key}
            logits = pl_module(**inputs).cpu()
        finally:
            for h in handles:
                h.remove()
            pl_module.train(was_training)
        return outputs, logits

    def _draw(self, trainer: Trainer, pl_module: LightningModule, when: str) -> list:
        ds = dataset(trainer, self.split)
        if ds is None:
            return []
        batch = fixed_batch(ds, self.n_inputs, self.seed)
        outputs, logits = self.capture(pl_module, batch)
        names = list(pl_module.class_names)
        labels = batch[self.label_key].tolist()
        preds = logits.argmax(-1).tolist()
        titles = [f"{names[t]} (pred {names[p]})" for t, p in zip(labels, preds)]
        images = to_display(batch[self.image_key], *normalization(trainer))
        paths = []
        for layer, out in outputs.items():
            fig = self._maps_figure(out, images, titles) if out.dim() == 4 else self._vector_figure(out, titles)
            fig.suptitle(f"{layer} activations ({when})", y=1.02)
            paths.append(log_figure(trainer, fig, f"feature_maps/{layer}_{when}"))
        return paths

    def _maps_figure(self, out: torch.Tensor, images: np.ndarray, titles: list[str]):
        sel = out[:, : self.max_maps]
        maps = minmax(sel.flatten(0, 1)).view_as(sel).numpy()  # each map scaled on its own
        n, c = maps.shape[:2]
        fig, axes = plt.subplots(n, c + 1, figsize=(1.2 * (c + 1), 1.3 * n + 0.3), squeeze=False)
        for i in range(n):
            axes[i, 0].imshow(images[i], cmap="gray" if images[i].ndim == 2 else None, vmin=0, vmax=1)
            axes[i, 0].set_title(titles[i], fontsize=7)
            for j in range(c):
                axes[i, j + 1].imshow(maps[i, j], cmap="viridis", vmin=0, vmax=1)
                if i == 0:
                    axes[i, j + 1].set_title(f"ch {j}", fontsize=7)
        for ax in axes.flat:
            ax.axis("off")
        fig.tight_layout()
        return fig

    @staticmethod
    def _vector_figure(out: torch.Tensor, titles: list[str]):
        acts = out.flatten(1).numpy()
        fig, ax = plt.subplots(figsize=(min(14, 2 + acts.shape[1] / 20), 0.5 * len(titles) + 1))
        im = ax.imshow(acts, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(len(titles)), titles, fontsize=7)
        ax.set_xlabel("unit")
        fig.colorbar(im, ax=ax, fraction=0.03)
        fig.tight_layout()
        return fig

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.before_training:
            self._draw(trainer, pl_module, "untrained")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, "trained")
