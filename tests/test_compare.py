"""``cli.py compare`` (commands.compare): fresh run directories per invocation, FAILED variants without
numbers, and a table ranked by validation, never by test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commands.compare import comparison, main, run_dirs
from tests.helpers import ROOT, TINY


def _run(root: Path, name: str, summary: dict, val: list[float] | None = None, mode: str | None = None) -> Path:
    """A finished run's files: summary.json, metrics.csv with one val/acc row per epoch, config.yaml."""
    run = root / name / "version_0"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary))
    rows = ["epoch,step,val/acc,val/loss"] + [f"{e},{e},{v},{1 - v}" for e, v in enumerate(val or [])]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    if mode:
        (run / "config.yaml").write_text(f"checkpoint:\n  monitor: {summary['monitor']}\n  mode: {mode}\n")
    return run


def _row(name: str, summary: dict, status: str = "ok") -> dict:
    return {"variant": name, "status": status, **{k: v for k, v in summary.get("test", {}).items()}}


def test_ranks_by_the_monitored_validation_metric_not_test(tmp_path):
    # a: best validation, worst test; b: the reverse. Validation decides.
    a = {"monitor": "val/acc", "best_score": 0.90, "test": {"test/acc": 0.50}}
    b = {"monitor": "val/acc", "best_score": 0.80, "test": {"test/acc": 0.70}}
    runs = {"b": _run(tmp_path, "b", b, [0.7, 0.8], "max"), "a": _run(tmp_path, "a", a, [0.9, 0.6], "max")}
    rows = [_row("b", b), _row("a", a), _row("broken", {}, status="FAILED (exit 1)")]
    runs["broken"] = tmp_path / "broken" / "version_0"
    how, table = comparison(rows, runs)
    assert [r["variant"] for r in rows] == ["a", "b", "broken"]
    assert [r.get("rank") for r in rows] == [1, 2, None]
    assert "Ranked by `best val/acc` (higher is better" in how and "Test metrics are shown, never ranked" in how
    lines = table.splitlines()
    assert lines[0].startswith("| rank | variant | status | best val/acc |")
    assert lines[2].startswith("| 1 | a | ok | 0.9000 |") and lines[3].startswith("| 2 | b | ok | 0.8000 |")
    assert "| broken | FAILED (exit 1) |" in lines[4]


def test_a_lower_is_better_monitor_and_an_explicit_metric(tmp_path):
    a = {"monitor": "val/loss", "best_score": 0.30, "test": {"test/acc": 0.9}}
    b = {"monitor": "val/loss", "best_score": 0.20, "test": {"test/acc": 0.5}}
    runs = {"a": _run(tmp_path, "a", a, [0.6, 0.7], "min"), "b": _run(tmp_path, "b", b, [0.8, 0.75], "min")}
    rows = [_row("a", a), _row("b", b)]
    how, _ = comparison(rows, runs)
    assert [r["variant"] for r in rows] == ["b", "a"] and "lower is better" in how
    rows = [_row("a", a), _row("b", b)]
    comparison(rows, runs, metric="val/acc")  # the best epoch of metrics.csv: a 0.7, b 0.8
    assert [(r["variant"], r["best val/acc"]) for r in rows] == [("b", 0.8), ("a", 0.7)]
    with pytest.raises(SystemExit, match="test metrics never rank"):
        comparison([_row("a", a)], runs, metric="test/acc")


def test_unranked_without_a_monitored_metric(tmp_path):
    s = {"test": {"test/psnr": 20.0}}
    runs = {"x": _run(tmp_path, "x", s)}
    rows = [_row("x", s)]
    how, table = comparison(rows, runs)
    assert how.startswith("Not ranked") and "rank" not in table.splitlines()[0].split("|")[1]


@pytest.mark.slow
def test_rerun_into_the_same_out_never_shows_the_old_run(tmp_path):
    """Run 1: the variant fits. Run 2, same --out and variant name: it fails, and the table says FAILED with
    no numbers instead of tabulating run 1's directory."""
    out = tmp_path / "cmp"
    config = str(ROOT / "configs" / "labs" / "vision" / "mnist_mlp.yaml")
    assert main(["--config", config, "--variant", "mlp=", "--out", str(out), "--", *TINY]) == 0
    first = run_dirs(out)["mlp"]
    assert first == out / "mlp" / "version_0"
    summary = json.loads((first / "summary.json").read_text())
    table = (out / "comparison.md").read_text()
    assert summary["monitor"] == "val/acc" and f"| 1 | mlp | ok | {summary['best_score']:.4f} |" in table
    assert f"{summary['test']['test/acc']:.4f}" in table

    assert (
        main(
            ["--config", config, "--variant", "mlp=--model.init_args.no_such_option=1", "--out", str(out), "--", *TINY]
        )
        == 1
    )
    second = run_dirs(out)["mlp"]
    assert second == out / "mlp" / "version_1" and not (second / "summary.json").exists()
    table = (out / "comparison.md").read_text()
    row = next(line for line in table.splitlines() if "| mlp |" in line)
    assert "FAILED (exit" in row
    assert all(
        cell.strip() in ("", "mlp") or cell.strip().startswith("FAILED") or _is_wall_time(cell)
        for cell in row.strip("|").split("|")
    ), row  # no metrics, only the wall time
    assert f"{summary['test']['test/acc']:.4f}" not in table


def _is_wall_time(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
