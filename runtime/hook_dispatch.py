"""A speed experiment, OFF by default: callback hooks without the no-op calls.

Lightning calls every hook of every callback at every step (``trainer/call.py: _call_callback_hooks``),
including the empty ones a callback inherits from ``Callback``, each with the callback's ``state_key``, an
f-string and a profiler context. A lab has 15-20 callbacks and a training step runs six callback hooks.

``DL_LABS_FAST_HOOKS=1`` makes the CLI swap that function for the duration of its run (``scoped()``), and only
then: nothing changes at import time or for a user's own Trainer. The swapped-in function skips a callback whose
hook is the inherited no-op (looked up once per class and hook). What every callback that does override a hook
sees is unchanged: the same calls, in the same order, with the same arguments, and the module's
``_current_fx_name`` set as before. With a real profiler (``--trainer.profiler simple``) the original function
runs. ``tests/test_hook_dispatch.py`` pins the equivalence.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lightning.pytorch import Callback
from lightning.pytorch.callbacks import Checkpoint, EarlyStopping
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call

_ORIGINAL = call._call_callback_hooks
_overrides: dict[tuple[type, str], bool] = {}


def _overridden(callback: Callback, hook: str) -> bool:
    if hook in vars(callback):  # a hook set on the instance
        return True
    key = (type(callback), hook)
    known = _overrides.get(key)
    if known is None:
        known = _overrides[key] = getattr(type(callback), hook, None) is not getattr(Callback, hook, None)
    return known


def _call_callback_hooks(
    trainer: Any, hook_name: str, *args: Any, monitoring_callbacks: bool | None = None, **kwargs: Any
) -> None:
    if not isinstance(trainer.profiler, PassThroughProfiler):
        return _ORIGINAL(trainer, hook_name, *args, monitoring_callbacks=monitoring_callbacks, **kwargs)
    pl_module = trainer.lightning_module
    if pl_module:
        prev_fx_name = pl_module._current_fx_name
        pl_module._current_fx_name = hook_name
    for callback in trainer.callbacks:
        if monitoring_callbacks is not None:
            monitoring = isinstance(callback, (EarlyStopping, Checkpoint))
            if monitoring is not monitoring_callbacks:
                continue
        if not _overridden(callback, hook_name):
            continue
        fn = getattr(callback, hook_name)
        if callable(fn):
            fn(trainer, trainer.lightning_module, *args, **kwargs)
    if pl_module:
        pl_module._current_fx_name = prev_fx_name
    return None


def install() -> None:
    """Use the skipping dispatch for every Trainer in this process (idempotent)."""
    call._call_callback_hooks = _call_callback_hooks


def uninstall() -> None:
    """Back to Lightning's own dispatch."""
    call._call_callback_hooks = _ORIGINAL


def installed() -> bool:
    return call._call_callback_hooks is _call_callback_hooks


ENV = "DL_LABS_FAST_HOOKS"


def requested() -> bool:
    """Whether the user asked for the skipping dispatch (``DL_LABS_FAST_HOOKS=1``)."""
    return os.environ.get(ENV, "0").strip().lower() in ("1", "true", "yes", "on")


@contextmanager
def scoped(enable: bool) -> Iterator[None]:
    """The skipping dispatch inside the block when ``enable``; Lightning's own again after it."""
    if not enable or installed():
        yield
        return
    install()
    try:
        yield
    finally:
        uninstall()


@contextmanager
def lightning_dispatch() -> Iterator[None]:
    """Run a block with Lightning's own dispatch (benchmarks compare against stock Lightning)."""
    was = installed()
    uninstall()
    try:
        yield
    finally:
        if was:
            install()
