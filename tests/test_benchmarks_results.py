"""The benchmark driver: its specs name real configs and variants, it merges rows by key, and a quick run
writes rows in the schema the docs' tables read."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from benchmarks import results, specs, tiny
from tests import helpers
from tests.helpers import ROOT

ALL_RUNS = [(name, run) for name, family in specs.FAMILIES.items() for run in family.runs]


def test_tests_and_quick_runs_share_one_tiny_list():
    assert helpers.TINY is tiny.TINY


@pytest.mark.parametrize("family,run", ALL_RUNS, ids=[f"{f}:{r.lab}" for f, r in ALL_RUNS])
def test_every_spec_names_a_config_a_variant_and_data_that_exist(family, run):
    assert (ROOT / "configs" / "labs" / run.config).is_file()
    if run.compare:
        spec = yaml.safe_load((ROOT / "configs" / "compare" / f"{run.compare}.yaml").read_text())
        assert run.variant in spec["variants"]
        assert f"configs/labs/{run.config}" in spec["configs"]
    if run.data:
        assert run.data in specs.FAMILIES[family].data
    if run.needs:
        assert run.needs in {r.lab for r in specs.FAMILIES[family].runs}
    if run.after:
        from benchmarks.baselines import AFTER

        assert run.after in AFTER


def test_row_keys_are_unique_within_a_family():
    for name, family in specs.FAMILIES.items():
        keys = [(m.lab or r.lab, m.name, m.split) for r in family.runs for m in r.metrics]
        assert len(keys) == len(set(keys)), name


def test_quick_arguments_use_the_tiny_limits_and_the_embedded_data():
    family = specs.FAMILIES["vision"]
    run = next(r for r in family.runs if r.lab == "gd_variants[batch_1]")
    quick = results.parse(["--family", "vision", "--quick"])
    args = results.cli_args(family, run, quick, "../shared/data", None)
    assert " ".join(tiny.TINY) in " ".join(args)
    assert "embedded" in args and not any("shared/data" in a for a in args)
    assert "--data.init_args.batch_size=1" in args  # the compare spec's variant overrides
    assert "3000" not in args  # the full run's cap is not a quick run's
    full = results.cli_args(family, run, results.parse(["--family", "vision"]), "../shared/data", None)
    assert full[full.index("--data.init_args.path") + 1] == "../shared/data/mnist"
    assert "3000" in full and "--trainer.max_epochs" not in full


def test_selecting_a_lab_brings_its_variants_and_the_runs_it_needs():
    family = specs.FAMILIES["vision"]
    labs = [r.lab for r in results.select(family, ["transfer_learning"])]
    assert labs == ["transfer_pretrain", "transfer_learning[transfer]", "transfer_learning[scratch]"]


def _row(lab, metric, value):
    return {"lab": lab, "metric": metric, "split": "test", "value": value}


def test_a_partial_run_replaces_only_its_own_rows(tmp_path):
    path = tmp_path / "vision.json"
    path.write_text(json.dumps([_row("a", "acc", 0.1), _row("b", "acc", 0.2), _row("a", "loss", 3.0)]))
    results.merge(path, [_row("a", "acc", 0.5), _row("c", "acc", 0.7)])
    assert json.loads(path.read_text()) == [
        _row("a", "acc", 0.5),
        _row("b", "acc", 0.2),
        _row("a", "loss", 3.0),
        _row("c", "acc", 0.7),
    ]


def test_an_unknown_lab_is_a_one_line_error(capsys):
    assert results.main(["--family", "series", "--labs", "mnist_mlp", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --labs:") and "temperature_rnn" in err and "\n" not in err


@pytest.mark.slow
def test_quick_run_writes_rows_in_the_docs_schema(tmp_path):
    out = tmp_path / "results"
    argv = ["--family", "series", "--labs", "temperature_rnn", "--quick", "--accelerator", "cpu"]
    assert results.main([*argv, "--results-dir", str(out), "--out", str(tmp_path / "runs")]) == 0
    rows = json.loads((out / "series.json").read_text())
    assert all(tuple(r) == results.FIELDS for r in rows)
    by_key = {(r["lab"], r["metric"], r["split"]): r for r in rows}
    model = by_key[("temperature_rnn", "rmse", "test")]
    assert isinstance(model["value"], float) and model["value"] > 0
    assert model["report_note"] == "test MSE 0.0282 in scaled units"
    assert model["command"].startswith("python cli.py fit --config configs/labs/series/temperature_rnn.yaml ")
    assert re.fullmatch(r"[0-9a-f]{4,40}(-dirty)?", model["commit"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", model["date"]) and "cores" in model["machine"]
    ridge = by_key[("temperature_rnn[ridge_ar10]", "rmse", "test")]
    assert ridge["command"].startswith("python -m benchmarks.results --family series --labs temperature_rnn")
    assert ("temperature_rnn[seasonal_naive]", "mae", "test") in by_key
    # a second, partial run into the same file keeps the rows it does not produce
    other = {"lab": "pm25_lstm", "metric": "rmse", "split": "test", "value": 1.0}
    (out / "series.json").write_text(json.dumps([other, *rows]))
    results.merge(out / "series.json", rows[:1])
    assert json.loads((out / "series.json").read_text())[0] == other


def test_a_quick_transfer_run_reaches_its_second_phase():
    family = specs.FAMILIES["vision"]
    run = next(r for r in family.runs if r.lab == "transfer_learning[scratch]")
    args = results.cli_args(family, run, results.parse(["--family", "vision", "--quick"]), "d", None)
    epochs = [args[i + 1] for i, a in enumerate(args) if a == "--trainer.max_epochs"]
    assert epochs[-1] == "2" and "--trainer.callbacks.init_args.head_epochs" in args


def test_values_are_read_from_the_summary_the_phases_and_the_epoch_curves(tmp_path):
    (tmp_path / "summary.json").write_text(
        json.dumps({"test": {"test/acc": 0.5}, "phases": {"phase1": {"test_acc": 0.25}, "phase2": {"test_acc": 0.75}}})
    )
    (tmp_path / "metrics.csv").write_text("epoch,step,val/loss,train/acc\n0,9,0.9,0.1\n1,19,0.4,0.3\n2,29,0.6,0.2\n")
    read = results.read_value
    assert read(tmp_path, specs.Metric("acc")) == 0.5
    assert read(tmp_path, specs.Metric("acc", read="phase1")) == 0.25
    assert read(tmp_path, specs.Metric("acc", read="phase2")) == 0.75
    assert read(tmp_path, specs.Metric("loss", "val", "best")) == 0.4  # a loss: the lowest epoch
    assert read(tmp_path, specs.Metric("acc", "train", "last")) == 0.2
    assert read(tmp_path, specs.Metric("acc", "train", "best")) == 0.3
    assert read(tmp_path, specs.Metric("f1")) is None
