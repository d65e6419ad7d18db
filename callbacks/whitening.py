"""airbench's whitening-conv initialisation from training patches, and its bias schedule, as a callback."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from labcore import log
from labcore.errors import LabError


class WhiteningInit(Callback):
    """Calls ``<module>.init_whitening(images)`` with the first ``samples`` training images (standardised, as the
    net sees them) when fit starts, and ``<module>.train_whitening_bias(epoch < bias_epochs)`` at each epoch start.

    Runs in ``setup`` (after the datamodule's, before the weights are moved or a checkpoint is restored: a resumed
    run gets the checkpoint's values, which are the same). Nets with these two methods: ``nets.AirbenchNet``.
    """

    def __init__(self, module: str = "net", samples: int = 5000, bias_epochs: int = 3) -> None:
        if samples < 1 or bias_epochs < 0:
            raise LabError(
                f"WhiteningInit samples={samples}, bias_epochs={bias_epochs}: pass samples >= 1, bias_epochs >= 0"
            )
        self.module, self.samples, self.bias_epochs = module, samples, bias_epochs

    def _net(self, pl_module: LightningModule):
        net = getattr(pl_module, self.module, None)
        if net is None or not hasattr(net, "init_whitening"):
            raise LabError(
                f"WhiteningInit module={self.module!r}: the task module has no such net with init_whitening(); "
                "pass the attribute of a net that has one (e.g. net for nets.AirbenchNet)"
            )
        return net

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        net = self._net(pl_module)
        train = getattr(trainer.datamodule, "datasets", {}).get("train") if trainer.datamodule is not None else None
        if train is None or not hasattr(train, "images"):
            raise LabError("WhiteningInit needs an in-memory image datamodule (datasets['train'].images); remove it")
        images = train.images[: self.samples]
        if images.dtype == torch.uint8:  # stored raw when augmented: standardise as the batches are
            mean, std = train.mean.to(images.device), train.std.to(images.device)
            images = (images.float() / 255.0 - mean) / std
        net.init_whitening(images)
        log.info(f"whitening conv of {self.module} set from the patches of {len(images)} training images")

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._net(pl_module).train_whitening_bias(trainer.current_epoch < self.bias_epochs)
