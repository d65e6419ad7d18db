"""Preemption and exact resume: SIGTERM / SIGINT mid-epoch write last.ckpt, print one line and exit non-zero;
``fit --ckpt_path <run>/checkpoints/last.ckpt`` continues in the same run directory and ends with the same
weights and metrics as a run that was never interrupted."""

from __future__ import annotations

import csv
import errno
import json
import os
import shlex
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from runtime import preemption
from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary

pytestmark = pytest.mark.slow  # end-to-end runs

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")


class SignalAt(Callback):
    """Sends ``signum`` to this process at the end of global step ``step`` on rank ``rank`` only (a real
    signal, as SLURM sends)."""

    def __init__(self, step: int, signum: int = int(signal.SIGTERM), rank: int = 0) -> None:
        self.step, self.signum, self.rank = step, signum, rank

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step and trainer.global_rank == self.rank:
            os.kill(os.getpid(), self.signum)


SIGNAL_AT = "tests.test_resume.SignalAt"


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _fit(*args: str, runs_dir: Path, lab: str) -> int:
    """``cli.py fit ...`` in this process; the exit code (0 when it returned)."""
    try:
        cli("fit", *args, runs_dir=runs_dir, lab=lab)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def _stop_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "stopped at epoch" in ln]


def _resume_from_line(line: str) -> None:
    """Run the resume command the stop line printed, exactly (in this process, as the ``dl-labs`` script's main).
    Its paths are absolute, so it works from any working directory."""
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command[:2] == ["dl-labs", "fit"], command
    assert all(Path(a).is_absolute() for a in command if a.endswith((".yaml", ".ckpt"))), command
    cli(*command[1:])


# 3 epochs of 5 batches (16 images each), validation on 2 batches, a metrics row for every step.
MNIST_SMALL = [
    "--config",
    MNIST,
    *TINY,
    "--trainer.max_epochs",
    "3",
    "--trainer.limit_train_batches",
    "5",
    "--trainer.limit_val_batches",
    "2",
    "--data.init_args.batch_size",
    "16",
    "--trainer.log_every_n_steps",
    "1",
]


@pytest.fixture(scope="module")
def mnist_uninterrupted(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("full")
    assert _fit(*MNIST_SMALL, runs_dir=runs, lab="full") == 0
    return runs / "full" / "version_0"


@pytest.mark.parametrize(
    ("signum", "step", "stops_at"),
    [
        (signal.SIGTERM, 7, 7),  # mid-epoch 1 (steps 5..9)
        (signal.SIGINT, 5, 6),  # at the last batch of epoch 0: the epoch ends as usual, the next batch stops
    ],
    ids=["sigterm-mid-epoch", "sigint-at-epoch-end"],
)
def test_signal_writes_last_ckpt_and_resume_is_bit_identical(
    tmp_path, capfd, mnist_uninterrupted, signum, step, stops_at
):
    code = _fit(
        *MNIST_SMALL,
        f"--trainer.callbacks+={SIGNAL_AT}",
        f"--trainer.callbacks.init_args.step={step}",
        f"--trainer.callbacks.init_args.signum={int(signum)}",
        runs_dir=tmp_path,
        lab="cut",
    )
    assert code == 128 + signum  # non-zero: a job scheduler sees the run did not finish
    run = tmp_path / "cut" / "version_0"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == stops_at
    lines = _stop_lines(capfd.readouterr().err)
    assert len(lines) == 1, lines
    assert f"stopped at epoch {ckpt['epoch']}, step {stops_at}" in lines[0]
    assert f"--config {run / 'config.yaml'} --ckpt_path {run / 'checkpoints' / 'last.ckpt'}" in lines[0]

    _resume_from_line(lines[0])

    assert [p.name for p in (tmp_path / "cut").iterdir()] == ["version_0"]  # the same run directory
    full, cut = _weights(mnist_uninterrupted), _weights(run)
    assert full.keys() == cut.keys()
    assert all(torch.equal(full[k], cut[k]) for k in full), "resumed weights differ from the uninterrupted run"
    assert _rows(run) == _rows(mnist_uninterrupted)  # every logged value, step for step, none lost or repeated
    assert json.loads((run / "summary.json").read_text())["global_step"] == 15


def test_text_lab_resume_is_bit_identical(tmp_path, capfd):
    # The text loader's order comes from BucketBatchSampler (bucketed, shuffled per epoch).
    text = [
        "--config",
        str(ROOT / "configs/labs/text/attention_toy.yaml"),
        *TINY,
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_train_batches",
        "6",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.log_every_n_steps",
        "1",
        "--data.init_args.toy_size",
        "400",
    ]
    assert _fit(*text, runs_dir=tmp_path, lab="full") == 0
    code = _fit(
        *text, f"--trainer.callbacks+={SIGNAL_AT}", "--trainer.callbacks.init_args.step=8", runs_dir=tmp_path, lab="cut"
    )
    assert code == 128 + signal.SIGTERM
    (line,) = _stop_lines(capfd.readouterr().err)
    _resume_from_line(line)
    full, cut = _weights(tmp_path / "full" / "version_0"), _weights(tmp_path / "cut" / "version_0")
    assert all(torch.equal(full[k], cut[k]) for k in full), "resumed weights differ from the uninterrupted run"
    assert _rows(tmp_path / "cut" / "version_0") == _rows(tmp_path / "full" / "version_0")


def test_resume_into_a_new_run_directory_on_request(tmp_path):
    first = cli("fit", "--config", MNIST, *TINY, runs_dir=tmp_path, lab="lab")
    before = (first / "metrics.csv").read_text()
    cli(
        "fit",
        "--config",
        str(first / "config.yaml"),
        "--ckpt_path",
        str(first / "checkpoints" / "last.ckpt"),
        "--trainer.max_epochs",
        "2",
        "--run_version",
        "new",
    )
    second = tmp_path / "lab" / "version_1"
    assert (first / "metrics.csv").read_text() == before  # the old run is left alone
    assert torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1  # continued training
    assert json.loads((second / "summary.json").read_text())["epochs"] == 2


def test_signal_on_one_ddp_rank_stops_every_rank_at_the_same_step(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv(preemption.SYNC_STEPS_ENV, "1")  # compare at every step (default: every 10th)
    code = _fit(
        "--config",
        MNIST,
        *TINY,
        *DDP_CPU_2,
        "--trainer.limit_train_batches",
        "6",
        f"--trainer.callbacks+={SIGNAL_AT}",
        "--trainer.callbacks.init_args.step=3",
        "--trainer.callbacks.init_args.rank=1",
        runs_dir=tmp_path,
        lab="ddp",
    )
    assert code == 128 + signal.SIGTERM
    ckpt = torch.load(tmp_path / "ddp" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 3  # rank 0 never got the signal, yet stopped with rank 1
    assert len(_stop_lines(capfd.readouterr().err)) == 1  # printed once (rank 0), not once per rank


class FullDiskFrom(Callback):
    """From epoch ``epoch`` on the disk is full for ``last.ckpt`` (see ``_full_disk_fsync``)."""

    full = False

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        FullDiskFrom.full = trainer.current_epoch >= self.epoch


def _full_disk_fsync(fsync):
    """``os.fsync`` of a (temporary) last checkpoint fails with ENOSPC once the disk is full: where delayed
    allocation reports a full disk, after the bytes were handed to the kernel."""

    def full_disk_fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if FullDiskFrom.full and ".last.ckpt." in Path(name).name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(fd)

    return full_disk_fsync


def test_full_disk_keeps_the_previous_last_ckpt(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(os, "fsync", _full_disk_fsync(os.fsync))
    monkeypatch.setattr(FullDiskFrom, "full", False)
    code = _fit(
        "--config",
        MNIST,
        *TINY,
        "--trainer.max_epochs",
        "2",
        "--trainer.callbacks+=tests.test_resume.FullDiskFrom",
        runs_dir=tmp_path,
        lab="disk",
    )
    assert code == 2
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "No space left on device" in err[0] and "previous one is intact" in err[0], err
    folder = tmp_path / "disk" / "version_0" / "checkpoints"
    last = torch.load(folder / "last.ckpt", weights_only=True)  # complete and readable
    assert last["epoch"] == 0
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


def test_last_ckpt_follows_every_epoch_when_the_metric_stops_improving(tmp_path):
    """The best checkpoint stays at the best epoch; last.ckpt is the newest epoch (a resume never repeats one)."""
    run = cli(
        "fit",
        "--config",
        MNIST,
        *TINY,
        "--trainer.max_epochs",
        "3",
        "--checkpoint.monitor",
        "epoch_score",  # logged by NeverImproves: best at epoch 0, worse every epoch after
        "--checkpoint.mode",
        "max",
        "--trainer.callbacks+=tests.test_resume.NeverImproves",
        runs_dir=tmp_path,
        lab="plateau",
    )
    folder = run / "checkpoints"
    best = [p.name for p in folder.glob("best-*.ckpt")]
    assert best == ["best-epoch000-step2.ckpt"]
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 2
    assert summary(run)["best_checkpoint"].endswith("best-epoch000-step2.ckpt")


class NeverImproves(Callback):
    """Logs ``epoch_score`` = -epoch at every validation: the first epoch stays the best."""

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        pl_module.log("epoch_score", -float(trainer.current_epoch))


def test_resume_after_a_hard_kill_logs_each_step_once(tmp_path):
    """A run killed after its checkpoint (SIGKILL, OOM, node loss) wrote rows past it; the resumed run logs those
    steps again. Here the whole run's metrics.csv plays the killed run's, resumed from the epoch-1 checkpoint."""
    run = cli(
        "fit",
        *MNIST_SMALL,
        "--trainer.callbacks+=callbacks.PeriodicCheckpoint",
        "--trainer.callbacks.init_args.every_n_epochs=1",
        runs_dir=tmp_path,
        lab="killed",
    )
    before = _rows(run)
    assert max(int(r["step"]) for r in before) == 14  # 3 epochs of 5 steps: rows of epochs 2 and 3 follow the ckpt
    cli("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "every1-epoch001.ckpt"))
    after = _rows(run)
    assert len(after) == len(before) and after == before  # every step once, the same values (exact resume)


def test_a_resumed_run_resumes_again_in_the_same_directory(tmp_path):
    # The resumed run rewrites config.yaml (now holding ckpt_path): resuming from it must still find the run.
    # No --lab: the lab name comes from the config's file name, and the run's own config is "config.yaml".
    cli("fit", "--config", MNIST, *TINY, "--runs_dir", str(tmp_path))
    run = tmp_path / "mnist_mlp" / "version_0"
    for epochs in ("2", "3"):
        cli(
            "fit",
            "--config",
            str(run / "config.yaml"),
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
            "--trainer.max_epochs",
            epochs,
        )
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*")] == ["mnist_mlp/version_0"]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3
    epochs_logged = {r["epoch"] for r in _rows(run) if r.get("train/loss")}
    assert epochs_logged == {"0", "1", "2"}  # metrics.csv holds all three epochs: appended, never replaced


@pytest.mark.parametrize(("every", "n"), [("1", 1), ("3", 3), (None, 10)])
def test_ddp_ranks_compare_signals_every_n_steps(monkeypatch, every, n):
    """Under DDP the all-reduce runs only at every n-th step; between those the answer is None on every rank."""
    reduced: list[int] = []
    monkeypatch.setattr(preemption.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(preemption.dist, "all_reduce", lambda flag, op: reduced.append(1))
    if every is None:
        monkeypatch.delenv(preemption.SYNC_STEPS_ENV, raising=False)
    else:
        monkeypatch.setenv(preemption.SYNC_STEPS_ENV, every)
    monkeypatch.setattr(preemption, "_received", signal.SIGTERM)

    class Trainer:
        world_size = 2

        class strategy:
            root_device = torch.device("cpu")

    answered = []
    for step in range(1, 21):
        Trainer.global_step = step
        if preemption.agreed_signal(Trainer()) is not None:
            answered.append(step)
    assert answered == [s for s in range(1, 21) if s % n == 0] and len(reduced) == len(answered)
