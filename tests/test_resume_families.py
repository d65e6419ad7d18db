"""Exact mid-epoch resume for every data family: a run stopped by SIGTERM in its second epoch and resumed from
its ``last.ckpt`` ends with the same weights, bit for bit, as a run that was never stopped.

The cases are discovered, not listed: every concrete ``LabDataModule`` in ``datamodules/`` is fitted through
the first lab config that uses it (or the one named in ``PREFERRED``), so a new family whose training loader
skips the resumable path (``datamodules.resumable.ResumableLoader``) fails here. ``VARIANTS`` adds the
training loaders a family builds only on an option (weighted sampler, full-batch chunks, workers).
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import signal
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import Callback

import datamodules
from datamodules.base import LabDataModule
from tests.helpers import LAB_CONFIGS, ROOT, TINY, cli, config_id

pytestmark = pytest.mark.slow  # three short fits per case

# A cheaper or more telling lab where a family has several (config path under configs/labs).
PREFERRED = {
    "MNISTDataModule": "vision/mnist_mlp.yaml",
    "TextClassificationDataModule": "text/sentiment_rnn.yaml",  # length buckets
    "TabularDataModule": "tabular/imbalanced.yaml",
    "TranslationDataModule": "seq2seq/translation_rnn.yaml",
    "TimeSeriesDataModule": "series/temperature_rnn.yaml",
}

# Overrides that shrink a family's net or data (its augmentation stays on: random reads must resume too).
SHRINK = {
    "SegmentationFolderDataModule": [
        "--model.init_args.net.init_args.depth",
        "2",
        "--model.init_args.net.init_args.base",
        "8",
        "--data.init_args.crop_size",
        "64",
    ],
    "UnpairedImageDataModule": [
        "--model.init_args.generator.init_args.ngf",
        "8",
        "--model.init_args.generator.init_args.n_blocks",
        "1",
        "--model.init_args.discriminator.init_args.ndf",
        "8",
        "--data.init_args.max_train_samples",
        "16",
    ],
}

# Training loaders built only on an option: (id, config, extra CLI arguments).
VARIANTS = [
    ("tables-weighted-sampler", "tabular/imbalanced.yaml", ["--data.init_args.imbalance", "weighted_sampler"]),
    ("images-full-batch-chunks", "vision/gd_variants.yaml", []),
    ("images-2-workers", "vision/mnist_mlp.yaml", ["--data.init_args.num_workers", "2"]),
]

EPOCHS, BATCHES = 2, 3
SIGNAL_AT = f"{__name__}.SignalAt"


class SignalAt(Callback):
    """Sends SIGTERM to this process at the end of batch ``batch`` of epoch ``epoch`` (as SLURM would)."""

    def __init__(self, epoch: int = 1, batch: int = 0) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGTERM)


def _data_class(config: Path) -> str | None:
    data = (yaml.safe_load(config.read_text()) or {}).get("data") or {}
    path = data.get("class_path") if isinstance(data, dict) else None
    return path.rsplit(".", 1)[-1] if path else None


def family_datamodules() -> dict[str, type[LabDataModule]]:
    """Every ``LabDataModule`` subclass defined in ``datamodules/``, by class name."""
    found: dict[str, type[LabDataModule]] = {}
    for info in pkgutil.iter_modules(datamodules.__path__):
        module = importlib.import_module(f"datamodules.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, LabDataModule) and cls is not LabDataModule and cls.__module__ == module.__name__:
                found[name] = cls
    return found


def _cases() -> list[pytest.param]:
    by_class: dict[str, list[Path]] = {}
    for config in LAB_CONFIGS:
        if (name := _data_class(config)) is not None:
            by_class.setdefault(name, []).append(config)
    found = family_datamodules()
    cases = []
    for name, cls in sorted(found.items()):
        configs = by_class.get(name, [])
        if not configs and any(issubclass(o, cls) for o in found.values() if o is not cls):
            continue  # a base of other families (ImageClassificationDataModule): covered through them
        preferred = ROOT / "configs" / "labs" / PREFERRED[name] if name in PREFERRED else None
        config = preferred if preferred in configs else (configs[0] if configs else None)
        cases.append(pytest.param(config, SHRINK.get(name, []), id=name))
    cases += [pytest.param(ROOT / "configs" / "labs" / c, extra, id=i) for i, c, extra in VARIANTS]
    return cases


def _args(config: Path, extra: list[str]) -> list[str]:
    return [
        "--config",
        str(config),
        *TINY,
        "--trainer.max_epochs",
        str(EPOCHS),
        "--trainer.limit_train_batches",
        str(BATCHES),
        "--trainer.limit_val_batches",
        "1",
        *extra,
    ]


def _fit(*args: str, runs_dir: Path, lab: str) -> int:
    try:
        cli("fit", *args, runs_dir=runs_dir, lab=lab)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_every_family_with_a_lab_is_a_case():
    ids = {p.id for p in _cases()}
    assert {"TranslationDataModule", "TabularDataModule", "TextClassificationDataModule"} <= ids
    for p in _cases():
        assert p.values[0] is not None, f"{p.id}: no lab config uses it, so its resume is untested; add one"


@pytest.mark.parametrize(("config", "extra"), _cases())
def test_mid_epoch_resume_is_bit_identical(tmp_path, config, extra):
    args = _args(config, extra)
    assert _fit(*args, runs_dir=tmp_path, lab="full") == 0
    code = _fit(*args, f"--trainer.callbacks+={SIGNAL_AT}", runs_dir=tmp_path, lab="cut")
    assert code == 128 + signal.SIGTERM, f"{config_id(config)}: the SIGTERM did not stop the run"
    run = tmp_path / "cut" / "version_0"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert (
        ckpt["epoch"] == 1 and ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"] < BATCHES
    )
    cli("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    full, cut = _weights(tmp_path / "full" / "version_0"), _weights(run)
    assert full.keys() == cut.keys()
    differ = [k for k in full if not torch.equal(full[k], cut[k])]
    assert not differ, (
        f"{config_id(config)}: {len(differ)} of {len(full)} weight tensors differ after resume: {differ[:4]}"
    )
