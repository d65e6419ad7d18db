"""LabModelCheckpoint's per-batch work: ModelCheckpoint's own batch-end checks only where a step or time trigger
can save there, and its state key formatted once per fit instead of at every callback hook."""

from __future__ import annotations

import inspect
from datetime import timedelta
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from callbacks.checkpoint import LabModelCheckpoint, epoch_last_checkpoint


def _fit(ckpt: ModelCheckpoint, root: Path, steps: int = 6) -> L.Trainer:
    trainer = L.Trainer(
        default_root_dir=root,
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ckpt],
    )
    trainer.fit(BoringModel())
    return trainer


@pytest.mark.parametrize("make", ["best", "last"])
def test_state_key_is_formatted_a_fixed_number_of_times_per_fit_and_unchanged(tmp_path, monkeypatch, make):
    calls = []
    stock = ModelCheckpoint.state_key

    def counted(self):
        calls.append(1)
        return stock.fget(self)

    # Only for this test: LabModelCheckpoint.state_key asks the stock property through super().
    monkeypatch.setattr(ModelCheckpoint, "state_key", property(counted))
    counts = []
    for steps in (5, 25):
        if make == "best":
            ckpt = LabModelCheckpoint(dirpath=tmp_path / f"ckpt{steps}", monitor=None)
            expected = stock.fget(ckpt)
        else:  # the key a plain ModelCheckpoint with these options has (checkpoints from before restore)
            ckpt = epoch_last_checkpoint(str(tmp_path / f"ckpt{steps}"))
            plain = ModelCheckpoint(
                dirpath=tmp_path, filename="last", monitor=None, save_top_k=1, every_n_epochs=1,
                enable_version_counter=False, auto_insert_metric_name=False,
            )  # fmt: skip
            expected = stock.fget(plain)
            assert expected.startswith("ModelCheckpoint{") and ckpt.state_key == expected
        calls.clear()
        _fit(ckpt, tmp_path, steps=steps)
        counts.append(len(calls))
        assert ckpt.state_key == expected
    # Stock ModelCheckpoint formats it at every hook Lightning dispatches: several per batch.
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("options", "runs"),
    [
        ({}, False),
        ({"every_n_train_steps": 2}, True),
        ({"train_time_interval": timedelta(seconds=0)}, True),
        ({"positional_every_n_train_steps": 2}, True),
    ],
)
def test_modelcheckpoint_batch_end_runs_only_with_a_step_or_time_trigger(tmp_path, monkeypatch, options, runs):
    calls = []
    original = ModelCheckpoint.on_train_batch_end

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    # Only this test's class attribute; restored by monkeypatch when the test ends.
    monkeypatch.setattr(ModelCheckpoint, "on_train_batch_end", counted)
    if "positional_every_n_train_steps" in options:
        names = list(inspect.signature(ModelCheckpoint.__init__).parameters)[1:]
        params = inspect.signature(ModelCheckpoint.__init__).parameters
        args = [params[n].default for n in names[: names.index("every_n_train_steps") + 1]]
        args[names.index("dirpath")], args[names.index("every_n_train_steps")] = tmp_path / "ckpt", 2
        ckpt = LabModelCheckpoint(*args)
    else:
        ckpt = LabModelCheckpoint(dirpath=tmp_path / "ckpt", monitor=None, **options)
    _fit(ckpt, tmp_path, steps=4)
    assert (len(calls) == 4) if runs else not calls
    if "every_n_train_steps" in str(options):  # the step trigger still saves mid-epoch
        assert any((tmp_path / "ckpt").iterdir())


def test_epoch_last_checkpoint_skips_batch_end_checks_and_still_writes_last(tmp_path, monkeypatch):
    calls = []
    original = ModelCheckpoint.on_train_batch_end

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ModelCheckpoint, "on_train_batch_end", counted)
    _fit(epoch_last_checkpoint(str(tmp_path / "ckpt")), tmp_path, steps=4)
    assert not calls
    assert (tmp_path / "ckpt" / "last.ckpt").exists()
