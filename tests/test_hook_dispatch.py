"""runtime.hook_dispatch, the opt-in speed experiment: off unless asked for, and then callbacks that override a hook
see exactly what Lightning's own dispatch gives them."""

from __future__ import annotations

import inspect

import lightning as L
import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer import call
from torch.utils.data import DataLoader, TensorDataset

from runtime import hook_dispatch
from tests.helpers import ROOT, TINY, cli


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        return self.net(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.net(batch[0]).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Recorder(Callback):
    """Overrides some hooks; records each call with the hook name the module says it is in."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, int]] = []

    def _note(self, hook: str, trainer, pl_module) -> None:
        self.calls.append((hook, pl_module._current_fx_name, trainer.global_step))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._note("on_train_batch_start", trainer, pl_module)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self._note("on_before_optimizer_step", trainer, pl_module)

    def on_validation_epoch_end(self, trainer, pl_module):
        self._note("on_validation_epoch_end", trainer, pl_module)

    def setup(self, trainer, pl_module, stage):
        self._note("setup", trainer, pl_module)


def _fit(tmp_path, profiler=None) -> tuple[list, list]:
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(12, 3)), batch_size=4)
    rec, late = Recorder(), Callback()
    late.on_train_epoch_end = lambda trainer, pl_module: rec.calls.append(("instance hook", None, trainer.global_step))
    trainer = L.Trainer(
        max_epochs=2,
        callbacks=[rec, late, ModelCheckpoint(dirpath=tmp_path, monitor="val/loss")],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        profiler=profiler,
    )
    trainer.fit(Tiny(), data, data)
    return rec.calls, [p.detach().clone() for p in trainer.lightning_module.parameters()]


@pytest.fixture
def restore_dispatch():
    was = hook_dispatch.installed()
    yield
    hook_dispatch.install() if was else hook_dispatch.uninstall()


def test_same_calls_and_weights_as_lightnings_dispatch(tmp_path, restore_dispatch):
    hook_dispatch.uninstall()
    calls_lightning, weights_lightning = _fit(tmp_path / "a")
    hook_dispatch.install()
    calls_ours, weights_ours = _fit(tmp_path / "b")
    assert calls_ours == calls_lightning
    assert ("instance hook", None, 3) in calls_ours  # a hook set on the instance still runs
    assert all(torch.equal(a, b) for a, b in zip(weights_ours, weights_lightning, strict=True))


def test_skips_inherited_no_op_hooks(restore_dispatch):
    hook_dispatch.install()
    assert not hook_dispatch._overridden(Callback(), "on_train_batch_end")
    assert hook_dispatch._overridden(Recorder(), "on_train_batch_start")


@pytest.mark.parametrize("monitoring", [True, False, None])
def test_monitoring_callbacks_filter(monitoring, restore_dispatch):
    seen: list[str] = []

    class Plain(Callback):
        def on_validation_end(self, trainer, pl_module):
            seen.append("plain")

    class Ckpt(ModelCheckpoint):
        def on_validation_end(self, trainer, pl_module):
            seen.append("checkpoint")

    class FakeTrainer:
        callbacks = [Plain(), Ckpt()]
        lightning_module = None
        profiler = L.pytorch.profilers.PassThroughProfiler()

    hook_dispatch._call_callback_hooks(FakeTrainer(), "on_validation_end", monitoring_callbacks=monitoring)
    ours = list(seen)
    seen.clear()
    hook_dispatch._ORIGINAL(FakeTrainer(), "on_validation_end", monitoring_callbacks=monitoring)
    assert ours == seen


def test_a_profiled_run_uses_lightnings_dispatch(tmp_path, restore_dispatch):
    """With a profiler every hook is listed, as before (the original function runs)."""
    hook_dispatch.install()
    calls, _ = _fit(tmp_path, profiler="simple")
    assert calls


# Fails when a Lightning upgrade changes the function this module replaces: re-check it against the new one.
def test_lightnings_function_is_the_one_this_replaces():
    original = hook_dispatch._ORIGINAL

    def shape(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(original) == shape(hook_dispatch._call_callback_hooks)
    source = inspect.getsource(original)
    for line in (
        "fn = getattr(callback, hook_name)",
        "pl_module._current_fx_name = hook_name",
        "isinstance(cb, (EarlyStopping, Checkpoint))",
    ):
        assert line in source
    assert call._call_callback_hooks in (original, hook_dispatch._call_callback_hooks)


class SeesDispatch(Callback):
    """Records whether the skipping dispatch is in place while the run trains."""

    seen: list[bool] = []

    def on_train_start(self, trainer, pl_module):
        SeesDispatch.seen.append(hook_dispatch.installed())


@pytest.mark.parametrize("requested", [None, "1"], ids=["default-off", "DL_LABS_FAST_HOOKS=1"])
def test_the_cli_swaps_nothing_unless_asked_and_only_for_its_run(tmp_path, monkeypatch, requested):
    if requested is None:
        monkeypatch.delenv(hook_dispatch.ENV, raising=False)
    else:
        monkeypatch.setenv(hook_dispatch.ENV, requested)
    hook_dispatch.uninstall()
    SeesDispatch.seen = []
    config = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")
    cli(
        "fit",
        "--config",
        config,
        *TINY,
        "--trainer.callbacks+=tests.test_hook_dispatch.SeesDispatch",
        runs_dir=tmp_path,
        lab="hooks",
    )
    assert SeesDispatch.seen == [requested is not None]
    assert call._call_callback_hooks is hook_dispatch._ORIGINAL  # nothing left behind for the user's own code


def test_importing_the_cli_changes_nothing():
    import importlib

    hook_dispatch.uninstall()
    importlib.import_module("cli")
    assert not hook_dispatch.installed()
