"""W&B run identity and summaries, read back from the offline run file (``tests/wandb_records.py``): group, job
type, tags, config, the best-value summary of the checkpoint, the prediction table, the model artifact; one
W&B run across SIGTERM and resume; one run under 2-process DDP."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
import torch
import wandb
import yaml
from jsonargparse import Namespace

from runtime import wandb_run
from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary
from tests.wandb_records import isolate_wandb, offline_runs

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")
WANDB = str(ROOT / "configs/logger/wandb.yaml")
SMALL = [*TINY, "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"]


@pytest.fixture(autouse=True)
def _wandb_dirs(tmp_path, monkeypatch):
    yield from isolate_wandb(tmp_path, monkeypatch)


def _process_exit() -> None:
    """What ends the W&B run of a ``python cli.py`` process (its atexit handler)."""
    wandb.finish()


# --- run identity, without a run ---------------------------------------------------------------------------
def test_run_id_is_kept_in_the_run_dir_and_new_dirs_get_new_ids(tmp_path, monkeypatch):
    first = wandb_run.run_id(tmp_path)
    assert (tmp_path / wandb_run.ID_FILE).read_text().strip() == first
    assert wandb_run.run_id(tmp_path) == first  # a resumed run finds it
    other = tmp_path / "version_1"
    other.mkdir()
    assert wandb_run.run_id(other, write=False) != first
    assert not (other / wandb_run.ID_FILE).exists()  # ranks other than zero write nothing
    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep1")
    monkeypatch.setenv("WANDB_RUN_ID", "agent123")
    assert wandb_run.run_id(other) == "agent123"  # under a sweep agent the agent's id is the run's


def _cfg(*configs: str) -> Namespace:
    return Namespace(
        config=list(configs),
        model=Namespace(
            class_path="lab_modules.Classifier",
            init_args=Namespace(net=Namespace(class_path="lab_modules.nets.MLP", init_args=Namespace()), lr=0.1),
        ),
    )


def test_logger_args_name_group_job_type_tags_and_config(tmp_path, monkeypatch):
    args = Namespace(project="dl-labs", log_model=False, tags=["mine"])
    wandb_run.configure_logger(args, _cfg(MNIST, WANDB), tmp_path, "mnist_mlp", "version_3", "test")
    assert (args.name, args.group, args.job_type) == ("mnist_mlp/version_3", "mnist_mlp", "test")
    assert args.tags == ["mine", "family:vision", "task:Classifier", "net:MLP"]
    assert args.id == (tmp_path / "wandb_id").read_text().strip()
    assert args.config["run_dir"] == str(tmp_path.resolve()) and args.config["git_commit"]
    assert args.checkpoint_name == "mnist_mlp-version_3" and args.offline is True

    monkeypatch.setenv(wandb_run.GROUP_ENV, "cifar_optimizers")  # a compare variant
    args = Namespace(project="dl-labs", log_model=True)
    wandb_run.configure_logger(args, _cfg(MNIST), tmp_path, "Adam", "version_0", "fit")
    assert (args.group, args.name) == ("cifar_optimizers", "cifar_optimizers/Adam/version_0")
    assert args.checkpoint_name == "cifar_optimizers-Adam-version_0"
    assert args.config["model_artifact"] == "cifar_optimizers-Adam-version_0:best"
    # The intent goes to the run config, for callbacks.wandb_summary.BestModelArtifact; Lightning's own log_model
    # (every ModelCheckpoint's files, two `best` versions) stays off, so the offline flag is allowed again.
    assert args.config["log_model"] is True and args.log_model is False and args.offline is True


# --- whole runs, read back from the run file ----------------------------------------------------------------
def _log_model_config(tmp_path: Path, log_model: bool | str = True) -> str:
    cfg = yaml.safe_load(Path(WANDB).read_text())
    cfg["trainer"]["logger"][-1]["init_args"]["log_model"] = log_model
    path = tmp_path / "wandb_log_model.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.slow
def test_fit_run_file_has_identity_best_summary_table_and_model_artifact(tmp_path):
    run = cli(
        "fit",
        "--config",
        MNIST,
        "--config",
        _log_model_config(tmp_path),
        *SMALL,
        "--test_after_fit",
        "true",
        "--wandb_table_rows",
        "5",
        runs_dir=tmp_path / "runs",
        lab="wb",
    )
    _process_exit()
    (r,) = offline_runs(run)
    assert r.run.run_id == (run / "wandb_id").read_text().strip()
    assert (r.run.run_group, r.run.job_type, r.run.display_name) == ("wb", "fit", "wb/version_0")
    assert {"family:vision", "task:Classifier", "net:MLP", "data:embedded"} <= set(r.run.tags)
    assert r.config["run_dir"] == str(run.resolve()) and r.config["git_commit"]
    assert r.config["model_artifact"] == "wb-version_0:best"

    # The monitored metric: epoch axis, best (max) and last in the summary; val/* all by epoch.
    m = r.metric("val/acc")
    assert m.step_metric == "epoch" and m.summary.max and m.summary.last
    assert r.metric("val/*").step_metric == "epoch"

    s = summary(run)
    curve = [(h["epoch"], h["val/acc"]) for h in r.history if "val/acc" in h]
    best_epoch, best = max(reversed(curve), key=lambda eb: eb[1])  # the first epoch with the best value
    assert r.summary["best_score"] == pytest.approx(s["best_score"]) == pytest.approx(best)
    assert r.summary["val/acc"]["max"] == pytest.approx(best)
    assert r.summary["best_epoch"] == best_epoch
    assert r.summary["best_epoch"] == torch.load(s["best_checkpoint"], weights_only=True)["epoch"]
    assert r.summary["params"] == s["params"] and r.summary["fit_seconds"] > 0
    assert r.summary["test_checkpoint"] == s["best_checkpoint"]  # the test metrics are the best checkpoint's
    assert r.summary["test/acc"] == pytest.approx(s["test"]["test/acc"])

    table = r.table("test/predictions")
    assert len(table["data"]) == 5
    assert table["columns"][:6] == ["index", "image", "true", "predicted", "correct", "probability"]
    assert all(row[1]["_type"] == "image-file" for row in table["data"])

    # One model artifact version, aliased best: the best checkpoint file itself (with its data state).
    (best_model,) = [a for a in r.artifacts if a.type == "model"]
    assert best_model.name == "wb-version_0" and set(best_model.aliases) == {"best", "latest"}
    meta = yaml.safe_load(best_model.metadata)
    assert meta["score"] == pytest.approx(s["best_score"]) and meta["epoch"] == best_epoch
    assert (meta["monitor"], meta["mode"]) == ("val/acc", "max")
    (entry,) = best_model.manifest.contents
    assert entry.path == "model.ckpt"
    assert Path(entry.local_path).read_bytes() == Path(s["best_checkpoint"]).read_bytes()
    assert "MNISTDataModule" in torch.load(entry.local_path, weights_only=True)  # the data state

    # docs/wandb.md: the downloaded model.ckpt and the lab config are all `predict` needs.
    downloaded = tmp_path / "ckpt" / "model.ckpt"
    downloaded.parent.mkdir()
    shutil.copyfile(entry.local_path, downloaded)
    pred = cli("predict", "--config", MNIST, *TINY, "--ckpt_path", str(downloaded), runs_dir=tmp_path / "p", lab="p")
    assert (pred / "predictions.csv").read_text().count("\n") > 1


def _new_bests(curve: list[float]) -> list[float]:
    """The values a max-mode top-1 checkpoint is replaced at (strictly better than every earlier one)."""
    out: list[float] = []
    for value in curve:
        if not out or value > out[-1]:
            out.append(value)
    return out


@pytest.mark.slow
def test_log_model_all_logs_each_new_best_as_a_version(tmp_path):
    run = cli(
        "fit",
        "--config",
        MNIST,
        "--config",
        _log_model_config(tmp_path, "all"),
        *SMALL,
        "--trainer.max_epochs",
        "3",
        "--wandb_table_rows",
        "0",
        runs_dir=tmp_path / "runs",
        lab="wball",
    )
    _process_exit()
    (r,) = offline_runs(run)
    curve = [h["val/acc"] for h in r.history if "val/acc" in h]
    models = [a for a in r.artifacts if a.type == "model"]
    assert {a.name for a in models} == {"wball-version_0"} and all("best" in a.aliases for a in models)
    scores = [yaml.safe_load(a.metadata)["score"] for a in models]
    assert scores == pytest.approx(_new_bests(curve))
    assert scores[-1] == pytest.approx(summary(run)["best_score"])


@pytest.mark.slow
def test_sigterm_and_resume_continue_one_wandb_run(tmp_path):
    args = ["--config", MNIST, "--config", WANDB, *SMALL, "--trainer.limit_train_batches", "4"]
    signal_at = ["--trainer.callbacks+=tests.test_resume.SignalAt", "--trainer.callbacks.init_args.step=5"]
    with pytest.raises(SystemExit) as stop:
        cli("fit", *args, *signal_at, runs_dir=tmp_path, lab="cut")
    assert stop.value.code == 128 + signal.SIGTERM
    _process_exit()
    run = tmp_path / "cut" / "version_0"
    cli("fit", *args, "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    _process_exit()
    assert not (tmp_path / "cut" / "version_1").exists()
    first, resumed = offline_runs(run)
    assert first.run.run_id == resumed.run.run_id == (run / "wandb_id").read_text().strip()
    assert resumed.summary["epochs"] == 2 and resumed.summary["global_step"] == 8


@pytest.mark.slow
def test_two_process_ddp_opens_one_wandb_run(tmp_path):
    run = cli("fit", "--config", MNIST, "--config", WANDB, *TINY, *DDP_CPU_2, runs_dir=tmp_path / "runs", lab="ddp")
    _process_exit()
    files = list(tmp_path.rglob("run-*.wandb"))
    assert len(files) == 1, files
    (r,) = offline_runs(run)
    assert r.run.run_id == (run / "wandb_id").read_text().strip()
    assert r.summary["global_step"] == 2 and "data:embedded" in r.run.tags
