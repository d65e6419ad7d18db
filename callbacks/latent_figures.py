"""Figures of a VAE's latent space: the decoder over a latent grid, and the encoder's means by label.

Both read the VAE task's documented methods (``lab_modules.VAE``): ``latent_dim``,
``encode(image) -> (mu, logvar)`` and ``decode(z) -> images in [0, 1]``. The task keeps no
figure state: the scatter collects its latent means itself, from the batches it sees.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor

from callbacks.figures import log_figure, plt
from labcore.errors import LabError
from labcore.log import warn


def _check_vae(pl_module: LightningModule, callback: str, needs: tuple[str, ...]) -> None:
    missing = [m for m in needs if not hasattr(pl_module, m)]
    if missing:
        raise LabError(
            f"{callback} draws a VAE's latent space, {type(pl_module).__name__} has no {', '.join(missing)}; "
            f"remove {callback} from trainer.callbacks or use lab_modules.VAE"
        )


def _draws(trainer: Trainer, every_n_epochs: int) -> bool:
    """Validation figures every ``every_n_epochs`` epochs and at the last epoch, never in the sanity check."""
    epoch = trainer.current_epoch + 1
    return not trainer.sanity_checking and (epoch % every_n_epochs == 0 or epoch == trainer.max_epochs)


class LatentTraversal(Callback):
    """The decoder's images over a ``steps`` x ``steps`` grid of the 2-d latent space
    ``[-latent_range, latent_range]^2`` (column j: z1 from -r to r, row i: z2 from +r to -r),
    drawn as ``val/latent_traversal_epochNNN`` every ``every_n_epochs`` epochs and as
    ``test/latent_traversal`` after testing.

    Only for 2-d latents: with any other ``latent_dim`` one grid cannot show the space, so the
    callback warns once and draws nothing (``LatentScatter`` projects any dimension).
    """

    def __init__(
        self, latent_range: float = 3.0, steps: int = 10, every_n_epochs: int = 1, on_test: bool = True
    ) -> None:
        if latent_range <= 0 or steps < 2:
            raise LabError(
                f"LatentTraversal: latent_range={latent_range}, steps={steps}; pass latent_range > 0 and steps >= 2"
            )
        self.latent_range, self.steps, self.every_n_epochs, self.on_test = latent_range, steps, every_n_epochs, on_test
        self._warned = False

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        _check_vae(pl_module, "LatentTraversal", ("latent_dim", "decode"))

    def grid(self, device: torch.device | str = "cpu") -> Tensor:
        """The latents, row-major over the figure: (steps * steps) x 2."""
        ticks = torch.linspace(-self.latent_range, self.latent_range, self.steps)
        return torch.stack(torch.meshgrid(ticks, ticks.flip(0), indexing="xy"), -1).reshape(-1, 2).to(device)

    def _draw(self, trainer: Trainer, pl_module: Any, name: str, title: str) -> None:
        if pl_module.latent_dim != 2:
            if not self._warned:
                warn(f"LatentTraversal: latent_dim={pl_module.latent_dim}, the traversal figure needs 2; none drawn")
                self._warned = True
            return
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            imgs = pl_module.decode(self.grid(pl_module.device)).float().cpu()
        pl_module.train(was_training)
        k, r = self.steps, self.latent_range
        c, h, w = imgs.shape[1:]
        canvas = imgs.view(k, k, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, k * h, k * w)
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.imshow(canvas[0] if c == 1 else canvas.permute(1, 2, 0), cmap="gray", vmin=0, vmax=1, extent=(-r, r, -r, r))
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
        ax.set_title(f"decoder over the latent grid [-{r:g}, {r:g}]^2{title}")
        log_figure(trainer, fig, name)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if _draws(trainer, self.every_n_epochs):
            epoch = trainer.current_epoch
            self._draw(trainer, pl_module, f"val/latent_traversal_epoch{epoch:03d}", f" (epoch {epoch})")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.on_test:
            self._draw(trainer, pl_module, "test/latent_traversal", "")


class LatentScatter(Callback):
    """The encoder's means ``mu`` of the first ``points`` validation (and test) examples, coloured by
    ``label_key`` when the batches have it, as ``val/latent_scatter_epochNNN`` every
    ``every_n_epochs`` epochs and ``test/latent_scatter``. Latents of more than 2 dimensions are
    projected on their first two principal axes. The means are computed here (a no-grad
    ``encode`` of each batch until ``points`` are collected), on each rank for its own shard;
    under DDP every rank contributes the first ``points / world_size`` of its shard, all ranks
    gather them (one collective) and rank 0 writes the figure: ``points`` examples in all, as
    with one process.
    """

    def __init__(
        self,
        points: int = 2000,
        every_n_epochs: int = 1,
        on_test: bool = True,
        image_key: str = "image",
        label_key: str = "label",
    ) -> None:
        if points < 1:
            raise LabError(f"LatentScatter: points={points}; pass points >= 1")
        self.points, self.every_n_epochs, self.on_test = points, every_n_epochs, on_test
        self.image_key, self.label_key = image_key, label_key
        self._mu: list[Tensor] = []
        self._labels: list[Tensor] = []

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        _check_vae(pl_module, "LatentScatter", ("encode",))

    def _reset(self) -> None:
        self._mu, self._labels = [], []

    def _collect(self, pl_module: Any, batch: dict[str, Tensor]) -> None:
        have = sum(len(m) for m in self._mu)
        if have >= self.points:
            return
        with torch.no_grad():
            mu, _ = pl_module.encode(batch[self.image_key])
        take = self.points - have
        self._mu.append(mu[:take].detach().float().cpu())
        if self.label_key in batch:
            self._labels.append(batch[self.label_key][:take].cpu())

    def latents(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The collected means (N x d) and labels (N, or None when a batch had none)."""
        mu = torch.cat(self._mu).numpy()
        labels = torch.cat(self._labels).numpy() if len(self._labels) == len(self._mu) else None
        return mu, labels

    def _gather(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Every rank's collected means and labels (a collective under DDP: every rank calls it)."""
        mine = self.latents() if self._mu else None
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return mine
        share = -(-self.points // dist.get_world_size())
        if mine is not None:
            mine = (mine[0][:share], None if mine[1] is None else mine[1][:share])
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, mine)  # shards may differ in length: objects, not tensors
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        mu = np.concatenate([p[0] for p in parts])[: self.points]
        labelled = all(p[1] is not None for p in parts)
        return mu, np.concatenate([p[1] for p in parts])[: self.points] if labelled else None

    def _draw(self, trainer: Trainer, pl_module: Any, name: str, title: str) -> None:
        gathered = self._gather()
        self._reset()
        if gathered is None:
            return
        mu, y = gathered
        axes = ("mu 1", "mu 2")
        if mu.shape[1] > 2:
            centred = mu - mu.mean(0)
            mu = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
            axes = ("principal axis 1 of mu", "principal axis 2 of mu")
        elif mu.shape[1] == 1:
            mu, axes = np.concatenate([mu, np.zeros_like(mu)], axis=1), ("mu 1", "")
        fig, ax = plt.subplots(figsize=(6, 5))
        if y is None:
            ax.scatter(mu[:, 0], mu[:, 1], s=4)
        else:
            k = int(y.max()) + 1 if len(y) else 1
            sc = ax.scatter(
                mu[:, 0], mu[:, 1], c=y, cmap="tab10" if k <= 10 else "viridis", s=4, vmin=-0.5, vmax=k - 0.5
            )
            fig.colorbar(sc, ax=ax, ticks=range(k) if k <= 20 else None, label=self.label_key)
        ax.set_xlabel(axes[0])
        ax.set_ylabel(axes[1])
        ax.set_title(f"latent means of {len(mu)} examples{title}")
        log_figure(trainer, fig, name)

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._reset()

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._reset()

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if _draws(trainer, self.every_n_epochs):
            self._collect(pl_module, batch)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.on_test:
            self._collect(pl_module, batch)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if _draws(trainer, self.every_n_epochs):
            epoch = trainer.current_epoch
            self._draw(trainer, pl_module, f"val/latent_scatter_epoch{epoch:03d}", f" (epoch {epoch})")
        self._reset()

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, "test/latent_scatter", "")
