"""The CLI side of the extension contract: data built once, data -> model arguments checked,
the best checkpoint and early stopping follow the task's monitored metric, run directories."""

from __future__ import annotations

import json
import os
import warnings

import pytest

from datamodules import MNISTDataModule
from tests.helpers import ROOT, TINY, cli, summary

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")
VAE = str(ROOT / "configs/labs/generative/vae.yaml")
BUILT: list[int] = []


class CountingMNIST(MNISTDataModule):
    """MNIST that counts its instances (a run must build its datamodule once)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        BUILT.append(1)


class MisnamedInfoMNIST(MNISTDataModule):
    """Offers ``num_class`` (a misspelling no argument takes): the CLI must warn, not drop it silently."""

    def model_info(self):
        return {**super().model_info(), "num_class": 10}


def _error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        cli(*args)
    assert exc.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    return lines[0]


def test_the_datamodule_is_built_once_per_run(tmp_path):
    BUILT.clear()
    cli(
        "fit",
        "--config",
        MNIST,
        "--data",
        "tests.test_cli_contract.CountingMNIST",
        *TINY,
        "--test_after_fit",
        "true",
        "--trainer.callbacks",
        "[]",
        runs_dir=tmp_path,
        lab="once",
    )
    assert len(BUILT) == 1


def test_an_explicit_value_equal_to_the_default_is_still_checked_against_the_data(capsys):
    # MLP's num_classes defaults to 10; typed explicitly it must not be silently replaced by the data's 2.
    msg = _error(
        capsys,
        "fit",
        "--config",
        MNIST,
        "--data.init_args.classes",
        '["0", "1"]',
        "--model.init_args.net.init_args.num_classes",
        "10",
        *TINY,
    )
    assert "num_classes=10" in msg and "num_classes=2" in msg


def test_a_data_key_no_argument_takes_is_a_warning(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli(
            "fit",
            "--config",
            MNIST,
            "--data",
            "tests.test_cli_contract.MisnamedInfoMNIST",
            *TINY,
            "--trainer.callbacks",
            "[]",
            runs_dir=tmp_path,
            lab="typo",
        )
    messages = [str(w.message) for w in caught if "no model or net argument takes" in str(w.message)]
    assert len(messages) == 1 and "num_class" in messages[0], messages


def test_the_best_checkpoint_follows_the_task_monitor(tmp_path):
    mnist = summary(cli("fit", "--config", MNIST, *TINY, runs_dir=tmp_path, lab="clf"))
    assert (mnist["monitor"], mnist["mode"]) == ("val/acc", "max")
    vae = summary(cli("fit", "--config", VAE, *TINY, "--trainer.callbacks", "[]", runs_dir=tmp_path, lab="vae"))
    assert (vae["monitor"], vae["mode"]) == ("val/nelbo", "min")


def test_a_config_overrides_the_monitor_and_must_then_say_the_mode(tmp_path, capsys):
    run = cli(
        "fit",
        "--config",
        MNIST,
        *TINY,
        "--checkpoint.monitor",
        "val/loss",
        "--checkpoint.mode",
        "min",
        runs_dir=tmp_path,
        lab="over",
    )
    assert (summary(run)["monitor"], summary(run)["mode"]) == ("val/loss", "min")
    msg = _error(capsys, "fit", "--config", MNIST, *TINY, "--checkpoint.monitor", "val/loss")
    assert "checkpoint" in msg and "mode" in msg


def test_early_stopping_follows_the_task_monitor(tmp_path):
    from cli import LabCLI

    lab = LabCLI(
        args=[
            "--config",
            MNIST,
            "--runs_dir",
            str(tmp_path),
            *TINY,
            "--trainer.callbacks",
            '[{"class_path": "callbacks.TaskEarlyStopping", "init_args": {"patience": 2}}]',
        ],
        run=False,
    )
    stopper = next(cb for cb in lab.trainer.callbacks if type(cb).__name__ == "TaskEarlyStopping")
    lab.trainer.fit(lab.model, datamodule=lab.datamodule)
    assert (stopper.monitor, stopper.mode) == ("val/acc", "max")
    assert float(stopper.best_score) == pytest.approx(float(lab.trainer.callback_metrics["val/acc"]))


def test_two_labclis_in_one_process_get_two_run_directories(tmp_path):
    from cli import LabCLI

    os.environ.pop("DL_LABS_RUN_VERSION", None)
    first = LabCLI(args=["--config", MNIST, "--runs_dir", str(tmp_path), *TINY], run=False)
    second = LabCLI(args=["--config", MNIST, "--runs_dir", str(tmp_path), *TINY], run=False)
    assert first.trainer.log_dir != second.trainer.log_dir
    assert [p.name for p in sorted((tmp_path / "mnist_mlp").iterdir())] == ["version_0", "version_1"]


def test_without_a_logger_the_run_still_writes_only_into_its_own_directory(tmp_path):
    run = cli(
        "fit",
        "--config",
        MNIST,
        *TINY,
        "--trainer.logger",
        "false",
        "--trainer.callbacks",
        "[]",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path,
        lab="nolog",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nolog"]
    assert (run / "summary.json").exists() and (run / "checkpoints" / "last.ckpt").exists()
    assert json.loads((run / "summary.json").read_text())["test"]


def test_last_checkpoint_is_the_last_epoch_even_when_the_best_was_earlier(tmp_path):
    # Monitoring `step` with mode min makes epoch 0 the best for good: Lightning alone would then never
    # rewrite last.ckpt, and a resume from it would repeat epochs 1 and 2.
    import torch

    run = cli(
        "fit",
        "--config",
        MNIST,
        *TINY,
        "--trainer.max_epochs",
        "3",
        "--checkpoint.monitor",
        "step",
        "--checkpoint.mode",
        "min",
        "--trainer.callbacks",
        "[]",
        runs_dir=tmp_path,
        lab="last",
    )
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 6)
    assert [p.name for p in (run / "checkpoints").glob("best-*.ckpt")] == ["best-epoch000-step2.ckpt"]
