"""The worked example of a new task kind in docs/adding-a-lab.md runs as printed: fit -> test -> predict
through the CLI, with no edit to cli.py, its monitor and data state taken from the two base classes."""

from __future__ import annotations

import re
import sys

import pytest
import torch

from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary


def _example_files() -> dict[str, str]:
    text = (ROOT / "docs" / "adding-a-lab.md").read_text()
    section = text[text.index("## A new task kind") : text.index("## What a new kind owes")]
    files = {}
    for _lang, body in re.findall(r"```(python|yaml)\n(.*?)```", section, re.S):
        first = body.splitlines()[0]
        path = re.match(r"# (\S+\.(?:py|yaml))", first).group(1)
        files[path] = body
    return files


def _write_example(tmp_path, monkeypatch) -> str:
    files = _example_files()
    assert set(files) == {"my_labs/forecast.py", "my_labs/sine.py", "configs/labs/series/sine_forecast.yaml"}
    for rel, body in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    (tmp_path / "my_labs" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    return str(tmp_path / "configs/labs/series/sine_forecast.yaml")


def test_the_worked_example_is_a_complete_new_task_kind(tmp_path, monkeypatch):
    config = _write_example(tmp_path, monkeypatch)
    try:
        run = cli(
            "fit",
            "--config",
            config,
            "--trainer.enable_progress_bar",
            "false",
            "--test_after_fit",
            "true",
            runs_dir=tmp_path / "runs",
            lab="sine",
        )
        s = summary(run)
        assert (s["monitor"], s["mode"]) == ("val/rmse", "min")  # declared by the task, no config line
        assert s["test"]["test/rmse"] < 0.5  # standardised units: predicting the mean scores ~1.0
        ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        state = ckpt["SineDataModule"]
        assert state["lab_data"] == 1 and set(state) >= {"mean", "std"}
        pred = cli(
            "predict",
            "--config",
            config,
            *TINY,
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
            runs_dir=tmp_path / "runs",
            lab="pred",
        )
        out = torch.load(pred / "predictions.pt", weights_only=True)
        assert out["forecast"].ndim == 1 and len(out["forecast"]) > 0
    finally:
        for name in [m for m in sys.modules if m.startswith("my_labs")]:
            del sys.modules[name]


@pytest.mark.slow
def test_the_worked_example_runs_under_two_process_ddp(tmp_path, monkeypatch):
    """A new task kind x datamodule pair owes a DDP run: 2 processes over gloo, one run directory."""
    config = _write_example(tmp_path, monkeypatch)
    try:
        run = cli(
            "fit",
            "--config",
            config,
            *TINY,
            *DDP_CPU_2,
            "--trainer.limit_train_batches",
            "4",
            "--test_after_fit",
            "true",
            runs_dir=tmp_path / "runs",
            lab="sine_ddp",
        )
        s = summary(run)
        last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        assert last["global_step"] == 4 and s["monitor"] == "val/rmse"  # 4 steps per rank
        assert 0.0 < s["test"]["test/rmse"] < 10.0
        assert sorted(p.name for p in (tmp_path / "runs" / "sine_ddp").iterdir()) == ["version_0"]
    finally:
        for name in [m for m in sys.modules if m.startswith("my_labs")]:
            del sys.modules[name]
