"""lab_modules.optim: fused optimizer kernels chosen through public torch API only, and the BatchNorm classes a
frozen fine-tuning block keeps in eval mode."""

from __future__ import annotations

import functools

import torch
from torch import nn

from callbacks.finetuning import BATCH_NORMS
from lab_modules.optim import make_optimizer


def _params() -> list[nn.Parameter]:
    return list(nn.Linear(3, 2).parameters())


def test_fused_kernel_where_the_config_leaves_it_open():
    assert make_optimizer(torch.optim.Adam, _params()).defaults["fused"] is True
    assert make_optimizer(functools.partial(torch.optim.SGD, lr=0.1), _params()).defaults["fused"] is True
    said = make_optimizer(functools.partial(torch.optim.Adam, foreach=False), _params())
    assert not said.defaults["fused"] and said.defaults["foreach"] is False  # the config's word stands
    meta = [nn.Parameter(torch.zeros(2, device="meta"))]
    assert not make_optimizer(torch.optim.Adam, meta).defaults["fused"]  # no fused kernel for this device kind


def test_an_optimizer_that_refuses_fused_gets_the_default():
    class Picky(torch.optim.SGD):
        def __init__(self, params, lr: float = 0.1, fused: bool | None = None, foreach: bool | None = None):
            if fused:
                raise RuntimeError("`fused=True` is not supported here")
            super().__init__(params, lr=lr, foreach=foreach)

    opt = make_optimizer(Picky, _params())
    assert isinstance(opt, Picky) and not opt.defaults["fused"]


def test_every_public_batchnorm_class_is_frozen_as_batchnorm():
    public = {getattr(nn, name) for name in dir(nn) if "BatchNorm" in name}
    assert public and public <= set(BATCH_NORMS)
    assert not isinstance(nn.InstanceNorm2d(3), BATCH_NORMS)
