"""runtime.rundir and runtime.csv_resume: run directories and the resumed run's metrics.csv, as plain functions."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from runtime import csv_resume, rundir


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in (rundir.VERSION_ENV, "LOCAL_RANK", "TORCHELASTIC_USE_AGENT_STORE", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)


def test_lab_name_is_the_option_else_the_last_lab_config():
    assert rundir.lab_name("mine", ["configs/labs/vision/mnist_mlp.yaml"]) == "mine"
    assert rundir.lab_name(None, ["configs/labs/vision/mnist_mlp.yaml", "configs/trainer/gpu.yaml"]) == "mnist_mlp"
    assert rundir.lab_name(None, ["runs/x/version_0/config.yaml"]) == "config"
    assert rundir.lab_name(None, []) == "lab"


def test_claim_takes_the_next_free_version_and_announces_it(tmp_path):
    (tmp_path / "lab" / "version_3").mkdir(parents=True)
    (tmp_path / "lab" / "version_x").mkdir()
    run = rundir.claim_version(tmp_path, "lab")
    assert (run.version, run.made, run.made_parents) == ("version_4", tmp_path / "lab" / "version_4", [])
    assert os.environ[rundir.VERSION_ENV] == f"{os.getpid()}:version_4"
    fresh = rundir.claim_version(tmp_path / "new_runs", "lab")
    assert fresh.made_parents == [tmp_path / "new_runs" / "lab", tmp_path / "new_runs"]


def test_claim_skips_a_version_another_process_made_meanwhile(tmp_path, monkeypatch):
    real_mkdir = Path.mkdir
    made_by_other = []

    def racing_mkdir(self, *args, **kwargs):
        if self.name == "version_0" and not made_by_other:  # another run claims it between glob and mkdir
            made_by_other.append(self)
            real_mkdir(self)
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    assert rundir.claim_version(tmp_path, "lab").version == "version_1"


def _run_with_config(root: Path) -> Path:
    run = root / "lab" / "version_2"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("x: 1\n")
    return run


def test_checkpoint_run_dir(tmp_path):
    run = _run_with_config(tmp_path)
    assert rundir.checkpoint_run_dir(run / "checkpoints" / "last.ckpt") == run
    assert rundir.checkpoint_run_dir(tmp_path / "elsewhere.ckpt") is None
    assert rundir.checkpoint_run_dir("last") is None and rundir.checkpoint_run_dir(None) is None


def test_resolve_continues_a_checkpoints_run_or_starts_a_new_version_of_its_lab(tmp_path):
    run = _run_with_config(tmp_path / "old_runs")
    ckpt = run / "checkpoints" / "last.ckpt"
    resumed = rundir.resolve(tmp_path / "runs", "other", None, ckpt, fitting=True)
    assert (resumed.path, resumed.resumed, resumed.made) == (run, True, None)
    new = rundir.resolve(tmp_path / "runs", "other", rundir.NEW, ckpt, fitting=True)
    assert new.path == tmp_path / "old_runs" / "lab" / "version_3" and not new.resumed
    tested = rundir.resolve(tmp_path / "runs", "other", None, ckpt, fitting=False)  # test --ckpt_path: a new run
    assert tested.path == tmp_path / "runs" / "other" / "version_0"


def test_resolve_a_named_version(tmp_path):
    named = rundir.resolve(tmp_path, "lab", "variant_a")
    assert named.path == tmp_path / "lab" / "variant_a" and named.path.is_dir() and named.made == named.path
    again = rundir.resolve(tmp_path, "lab", "variant_a")
    assert again.made is None  # it existed: a failed run must not remove it


def test_a_ddp_child_joins_its_parents_run_and_nothing_else_does(tmp_path, monkeypatch):
    monkeypatch.setenv(rundir.VERSION_ENV, "1:version_7")  # claimed by process 1, not this one
    assert rundir.resolve(tmp_path, "lab").version == "version_0"  # LOCAL_RANK unset: not a DDP child
    monkeypatch.setenv(rundir.VERSION_ENV, "1:version_7")
    monkeypatch.setenv("LOCAL_RANK", "1")
    child = rundir.resolve(tmp_path, "lab")
    assert (child.version, child.made) == ("version_7", None)
    monkeypatch.setenv(rundir.VERSION_ENV, f"{os.getpid()}:version_7")  # this process's own earlier claim
    assert rundir.resolve(tmp_path, "lab").version == "version_8"


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", "step", "train/loss"])
        writer.writeheader()
        writer.writerows(rows)


def test_appending_writer_drops_the_rows_past_the_checkpoint(tmp_path):
    rows = [{"epoch": "0", "step": str(s), "train/loss": str(1 / (s + 1))} for s in range(8)]
    _write_csv(tmp_path / "metrics.csv", rows)
    writer = csv_resume.AppendingWriter(str(tmp_path), first_step=5)
    assert writer.dropped == 3
    writer.log_metrics({"train/loss": 0.5}, step=5)
    writer.save()
    with (tmp_path / "metrics.csv").open(newline="") as f:
        steps = [r["step"] for r in csv.DictReader(f)]
    assert steps == ["0", "1", "2", "3", "4", "5"]


def test_appending_writer_without_a_step_keeps_every_row(tmp_path):
    _write_csv(tmp_path / "metrics.csv", [{"epoch": "0", "step": "9", "train/loss": "1"}])
    assert csv_resume.AppendingWriter(str(tmp_path)).dropped == 0
    assert csv_resume.first_logged_step({"global_step": 12}) == 12
