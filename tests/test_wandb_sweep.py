"""W&B sweep specs (``configs/sweeps/``) and ``cli.py sweep``: every parameter is a CLI key the CLI accepts and
puts where the sweep means it; a sampled trial runs; a compare spec becomes the equivalent grid, or is refused."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest
import wandb
import yaml

from commands.compare import load_spec
from commands.sweep import config_value, dump, sweep_spec, trial_command
from tests.helpers import ROOT, cli

SWEEPS = sorted((ROOT / "configs" / "sweeps").glob("*.yaml"))
GENERATED = {"cifar_optimizers", "sentiment_rnn_cells"}  # made by `cli.py sweep configs/compare/<name>.yaml`


@pytest.fixture(autouse=True)
def _wandb_dirs(tmp_path, monkeypatch):
    wandb.finish()  # a run an earlier test left open would be reused by the next WandbLogger
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb_data"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    yield
    wandb.finish()


def _spec(name: str) -> dict:
    path = ROOT / "configs" / "compare" / f"{name}.yaml"
    return load_spec(argparse.Namespace(spec=str(path), config=[], variant=[], only=None))


def _values(param: dict) -> list:
    """The values a sweep may give a parameter: its list, or a distribution's ends."""
    if "values" in param:
        return list(param["values"])
    if "value" in param:
        return [param["value"]]
    return [param["min"], param["max"]]


def _cli_args(sweep: dict, params: dict) -> list[str]:
    """The trial's command after ``cli.py``, with the repository's relative config paths made absolute."""
    cmd = trial_command(sweep, params)
    assert cmd[:2] == ["python", "cli.py"], cmd
    args = cmd[2:]
    return [str(ROOT / a) if a.startswith("configs/") else a for a in args]


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_every_sweep_value_is_a_cli_key_that_lands_where_meant(path, capsys):
    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] == "cli.py" and sweep["metric"]["name"].startswith("val/")
    params = {k: _values(v) for k, v in sweep["parameters"].items()}
    # Every value of every parameter at least once, in as few parses as the longest list needs.
    for i in range(max(len(v) for v in params.values())):
        trial = {k: v[min(i, len(v) - 1)] for k, v in params.items()}
        args = [a for a in _cli_args(sweep, trial) if a != "${args}"]
        cli(*args, "--print_config")  # prints the resolved config and ends with exit code 0
        printed = yaml.safe_load(capsys.readouterr().out)
        for key, value in trial.items():
            got = config_value(printed, key)
            assert got == value or (isinstance(value, float) and got == pytest.approx(value)), (key, got, value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cifar_optimizers", "sentiment_rnn"])
def test_a_sampled_trial_runs(name, tmp_path):
    sweep = yaml.safe_load((ROOT / "configs" / "sweeps" / f"{name}.yaml").read_text())
    rng = random.Random(0)
    trial = {k: rng.choice(_values(v)) for k, v in sweep["parameters"].items()}
    args = _cli_args(sweep, trial)
    run = cli(*args, "--trainer.fast_dev_run", "true", "--wandb_table_rows", "2", runs_dir=tmp_path, lab=name)
    assert (run / "wandb_id").is_file()  # it ran as a W&B run (fast_dev_run itself writes no logs)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_sweeps_match_their_compare_spec(name):
    source = f"configs/compare/{name}.yaml"
    sweep = sweep_spec(_spec(name))
    assert dump(sweep, source) == (ROOT / "configs" / "sweeps" / f"{name}.yaml").read_text()
    variants = _spec(name)["variants"]
    combos = 1
    for param in sweep["parameters"].values():
        combos *= len(param["values"])
    assert combos == len(variants)  # the grid runs exactly the compare's variants


def test_cifar_optimizers_grid_fills_the_lab_default_for_the_plain_variant():
    sweep = sweep_spec(_spec("cifar_optimizers"))
    assert sweep["parameters"] == {
        "model.init_args.optimizer": {"values": ["torch.optim.SGD", "torch.optim.Adam", "torch.optim.RMSprop"]},
        "model.init_args.optimizer.lr": {"values": [0.001]},
    }
    assert sweep["metric"] == {"name": "val/acc", "goal": "maximize"}


def test_variants_that_are_no_grid_are_refused_with_one_line(capsys):
    from cli import main

    with pytest.raises(SystemExit) as err:
        main(["sweep", str(ROOT / "configs" / "compare" / "regularization.yaml")])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the variants of regularization are not a grid")


def test_sweep_command_prints_the_spec(capsys, tmp_path):
    from cli import main

    out = Path(tmp_path) / "s.yaml"
    with pytest.raises(SystemExit) as err:
        main(["sweep", str(ROOT / "configs" / "compare" / "sentiment_rnn_hidden.yaml"), "--out", str(out)])
    assert err.value.code == 0
    sweep = yaml.safe_load(out.read_text())
    assert sweep["parameters"] == {"model.init_args.net.init_args.hidden_size": {"values": [100, 150, 220, 320]}}
