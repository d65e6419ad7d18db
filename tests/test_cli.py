"""CLI behaviour: run directories, resume, config round trip, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import yaml

from tests.helpers import ROOT, TINY, cli, summary

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")


def test_second_run_gets_its_own_directory(tmp_path):
    a = cli("fit", "--config", MNIST, *TINY, runs_dir=tmp_path, lab="mnist")
    b = cli("fit", "--config", MNIST, *TINY, runs_dir=tmp_path, lab="mnist")
    assert a != b and a.name == "version_0" and b.name == "version_1"
    for run in (a, b):
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["model"]["init_args"]["net"]["class_path"] == "lab_modules.nets.MLP"
        assert (run / "checkpoints" / "last.ckpt").exists()


def test_default_run_dir_is_named_after_the_lab(tmp_path):
    cli("fit", "--config", MNIST, *TINY)
    assert (tmp_path / "runs" / "mnist_mlp" / "version_0" / "config.yaml").exists()


def test_resume_from_last_checkpoint(tmp_path):
    first = cli("fit", "--config", MNIST, *TINY, runs_dir=tmp_path, lab="r")
    last = first / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)  # our checkpoints load without unpickling code
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 2
    resumed = cli(
        "fit",
        "--config",
        MNIST,
        *TINY,
        "--trainer.max_epochs",
        "2",
        "--ckpt_path",
        str(last),
        runs_dir=tmp_path,
        lab="r",
    )
    s = summary(resumed)
    assert s["epochs"] == 2 and s["global_step"] == 4, s  # continued, not restarted
    assert ckpt["hyper_parameters"]["class_names"] == [str(d) for d in range(10)]


@pytest.mark.slow
def test_print_config_round_trip(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "fit", "--config", MNIST, "--print_config"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    (tmp_path / "printed.yaml").write_text(out)
    again = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "fit", "--config", "printed.yaml", "--print_config"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert yaml.safe_load(out) == yaml.safe_load(again)
    assert yaml.safe_load(out)["model"]["init_args"]["optimizer"]["init_args"]["lr"] == 1e-4


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    return lines[0]


def _error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        cli(*args)
    assert exc.value.code == 2
    return _one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_missing_data_path_is_one_line_from_the_shell(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "fit",
            "--config",
            MNIST,
            "--data.init_args.source",
            "path",
            "--data.init_args.path",
            str(tmp_path / "nowhere"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2
    msg = _one_error_line(res.stderr)
    assert "nowhere" in msg and "--data.init_args.path" in msg


def test_folder_without_mnist_files_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    msg = _error(capsys, "fit", "--config", MNIST, "--data.init_args.path", str(tmp_path / "empty"), *TINY)
    assert "train-images-idx3-ubyte" in msg


def test_unknown_class_path_is_one_line(capsys):
    msg = _error(capsys, "fit", "--config", MNIST, "--model.init_args.net", "lab_modules.nets.NoSuchNet")
    assert "NoSuchNet" in msg


def test_contradicting_num_classes_is_one_line(capsys):
    msg = _error(capsys, "fit", "--config", MNIST, "--model.init_args.net.init_args.num_classes", "5")
    assert "num_classes=5" in msg and "10" in msg


def test_bad_option_value_is_one_line(capsys):
    msg = _error(capsys, "fit", "--config", MNIST, "--data.init_args.source", "ftp")
    assert "source" in msg and "ftp" in msg


@pytest.mark.parametrize("net", ["lab_modules.nets.SimpleCNN", "lab_modules.nets.ResNet18"])
def test_class_path_swap_fills_shapes_from_data(net, tmp_path):
    # The lab's figure callbacks name MLP layers, so they go with the MLP.
    run = cli(
        "fit",
        "--config",
        MNIST,
        "--model.init_args.net",
        net,
        "--data.init_args.eval_batch_size",
        "64",
        "--trainer.callbacks",
        "[]",
        *TINY,
        runs_dir=tmp_path,
        lab="swap",
    )
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["init_args"]["net"]["class_path"] == net
    assert summary(run)["global_step"] == 2


def test_checkpointing_can_be_switched_off(tmp_path):
    run = cli(
        "fit", "--config", MNIST, *TINY, "--trainer.enable_checkpointing", "false", runs_dir=tmp_path, lab="nockpt"
    )
    assert not (run / "checkpoints").exists()
    assert summary(run)["global_step"] == 2


def test_labcli_without_subcommands_applies_the_default_trainer_config(tmp_path):
    from cli import VERSION_ENV, LabCLI

    os.environ.pop(VERSION_ENV, None)
    lab = LabCLI(args=["--config", MNIST, "--runs_dir", str(tmp_path)], run=False)
    os.environ.pop(VERSION_ENV, None)
    assert [type(lg).__name__ for lg in lab.trainer.loggers] == ["CSVLogger", "TensorBoardLogger"]
    assert lab.trainer.log_dir == str(tmp_path / "mnist_mlp" / "version_0")


def _mnist_lab(tmp_path, *extra: str, epochs: int, train_batches: int):
    """The mnist_mlp lab as cli.py builds it (not run): a few short epochs, one validation batch, no summary."""
    from cli import VERSION_ENV, LabCLI

    os.environ.pop(VERSION_ENV, None)
    args = ["--config", MNIST, "--runs_dir", str(tmp_path), "--trainer.max_epochs", str(epochs)]
    args += ["--trainer.limit_train_batches", str(train_batches), "--trainer.limit_val_batches", "1"]
    lab = LabCLI(args=[*args, "--trainer.enable_model_summary", "false", *extra], run=False)
    os.environ.pop(VERSION_ENV, None)
    return lab


def test_default_progress_bar_is_throttled_and_ends_complete(tmp_path):
    from callbacks.progress_bar import LabProgressBar

    lab = _mnist_lab(tmp_path, "--trainer.num_sanity_val_steps", "0", epochs=1, train_batches=13)
    bar = lab.trainer.progress_bar_callback
    assert isinstance(bar, LabProgressBar) and bar.update_every == 10
    updates = []
    original = bar._update_metrics
    bar._update_metrics = lambda trainer, module: (
        updates.append(trainer.fit_loop.epoch_loop.batch_idx),
        original(trainer, module),
    )
    lab.trainer.fit(lab.model, datamodule=lab.datamodule)
    assert updates[:2] == [9, 12]  # batches 10 and 13 (the last) of 13, then the epoch end
    assert bar.progress.tasks[bar.train_progress_bar_id].completed == 13


def test_progress_bar_is_one_stock_bar_for_the_whole_fit(tmp_path):
    """leave=False: the bar is not stopped and restarted at every epoch (each stop waited for Lightning's redraw
    thread to wake up); the bar reads only Lightning's own metrics (``self.log(..., prog_bar=True)``)."""
    from lightning.pytorch import Callback
    from lightning.pytorch.callbacks import RichProgressBar

    from callbacks.progress_bar import LabProgressBar

    seen = []

    class Spy(Callback):
        def on_train_batch_end(self, trainer, *args):
            seen.append(id(trainer.progress_bar_callback.progress))

    lab = _mnist_lab(tmp_path, epochs=3, train_batches=2)
    bar = lab.trainer.progress_bar_callback
    assert isinstance(bar, LabProgressBar) and isinstance(bar, RichProgressBar)
    assert "get_metrics" not in vars(LabProgressBar) and "_init_progress" not in vars(LabProgressBar)
    lab.trainer.callbacks.append(Spy())
    lab.trainer.fit(lab.model, datamodule=lab.datamodule)
    assert len(seen) == 6 and len(set(seen)) == 1  # one bar (one Rich Progress) across the three epochs
