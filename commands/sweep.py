"""``python cli.py sweep``: a W&B sweep spec equivalent to a ``configs/compare/*.yaml`` spec.

    python cli.py sweep configs/compare/cifar_optimizers.yaml [--out configs/sweeps/cifar_optimizers.yaml]
    wandb sweep configs/sweeps/cifar_optimizers.yaml      # prints the sweep id
    wandb agent <entity>/dl-labs/<sweep id>               # runs the trials, from the repository root

The sweep's program is this CLI and its parameters are CLI keys: each trial runs
``python cli.py fit --config <lab> --config configs/logger/wandb.yaml --test_after_fit true --<key>=<value> ...``.
A compare spec's variants become a grid when they are one: every key a variant sets takes the values the
variants give it (a variant that leaves a key alone has the lab config's value there), and the variants are
exactly every combination of those values. Otherwise the command says which variants break the grid.
The metric is the task's monitored one (the best checkpoint's), or the spec's ``metric`` / ``mode``.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
from importlib import import_module
from pathlib import Path
from typing import Any

import yaml

from commands.compare import load_spec

ROOT = Path(__file__).resolve().parent.parent
LOGGER_CONFIG = "configs/logger/wandb.yaml"
MISSING = object()


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``["--a.b=1", "--c", "x"]`` -> ``{"a.b": 1, "c": "x"}`` (values read as YAML scalars, as the CLI reads them)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = str(args[i])
        if not arg.startswith("--"):
            raise SystemExit(f"error: override {arg!r} is not --key=value or --key value; fix the compare spec")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise SystemExit(f"error: override {arg} has no value; write --{key}=VALUE in the compare spec")
            value, i = str(args[i + 1]), i + 1
        out[key] = _scalar(value)
        i += 1
    return out


def _scalar(text: str) -> Any:
    """A YAML scalar, with ``1e-3`` a number as the CLI reads it (YAML 1.1 wants ``1.0e-3``)."""
    value = yaml.safe_load(text) if text != "" else ""
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            return value
    return value


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def config_value(config: dict, key: str) -> Any:
    """The value of CLI key ``key`` (``model.init_args.optimizer.lr``) in a config dict, reading ``a.b`` through
    ``init_args`` as the CLI does; a class is its ``class_path``. ``MISSING`` when the config does not set it."""
    node: Any = config
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and isinstance(node.get("init_args"), dict) and part in node["init_args"]:
            node = node["init_args"][part]
        else:
            return MISSING
    return node["class_path"] if isinstance(node, dict) and "class_path" in node else node


def task_metric(config: dict) -> tuple[str | None, str | None]:
    """The monitored metric and mode of the config's task module (class attributes; None where not fixed)."""
    class_path = config_value(config, "model")
    if not isinstance(class_path, str) or "." not in class_path:
        return None, None
    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(import_module(module), name)
    except (ImportError, AttributeError):
        return None, None
    monitor, mode = getattr(cls, "monitor", None), getattr(cls, "monitor_mode", None)
    return (monitor if isinstance(monitor, str) else None), (mode if isinstance(mode, str) else None)


def sweep_spec(spec: dict, root: Path = ROOT) -> dict:
    """The W&B sweep spec (a dict) equivalent to a loaded compare spec (``commands.compare.load_spec``)."""
    config: dict = {}
    for path in spec["configs"]:
        p = Path(path) if Path(path).is_absolute() else root / path
        config = _merge(config, yaml.safe_load(p.read_text()) or {})
    variants = {name: parse_overrides(args) for name, args in spec["variants"].items()}
    keys = list(dict.fromkeys(k for v in variants.values() for k in v))
    filled: dict[str, tuple] = {}
    for name, values in variants.items():
        row = []
        for key in keys:
            value = values.get(key, config_value(config, key))
            if value is MISSING:
                raise SystemExit(
                    f"error: variant {name} leaves {key} at its default, which {', '.join(spec['configs'])} does not "
                    f"set; give {name} an explicit --{key}=VALUE in the compare spec"
                )
            row.append(value)
        filled[name] = tuple(row)
    axes = [list(dict.fromkeys(row[i] for row in filled.values())) for i in range(len(keys))]
    grid = set(itertools.product(*axes))
    if len(filled) != len(grid) or set(filled.values()) != grid:
        extra = len(grid) - len(set(filled.values()))
        raise SystemExit(
            f"error: the variants of {spec['name']} are not a grid over {', '.join(keys)} ({len(filled)} variants, "
            f"{len(grid)} combinations{f', {extra} missing' if extra > 0 else ''}); a W&B grid sweep would run "
            "other trials. Write the sweep spec by hand (see configs/sweeps/), or make the variants a full grid"
        )
    monitor, mode = task_metric(config)
    metric, mode = spec.get("metric") or monitor, spec.get("mode") or mode
    command = ["${env}", "${interpreter}", "${program}", "fit"]
    for c in [*spec["configs"], LOGGER_CONFIG]:
        command += ["--config", str(c)]
    command += [str(a) for a in spec.get("args") or []] + ["--test_after_fit", "true", "${args}"]
    out: dict[str, Any] = {"name": spec["name"], "program": "cli.py", "method": "grid"}
    if metric:
        out["metric"] = {"name": metric, "goal": "minimize" if mode == "min" else "maximize"}
    out["parameters"] = {key: {"values": axis} for key, axis in zip(keys, axes)}
    out["command"] = command
    return out


def dump(sweep: dict, source: str) -> str:
    """The sweep spec as YAML, headed by the command that made it."""
    head = f"# W&B sweep spec made from {source} by: python cli.py sweep {source}\n"
    head += "#   wandb sweep <this file>; wandb agent <entity>/dl-labs/<sweep id>   (from the repository root)\n"
    return head + yaml.safe_dump(sweep, sort_keys=False, default_flow_style=False, width=120)


def trial_command(sweep: dict, params: dict[str, Any], python: str = "python") -> list[str]:
    """The command line a W&B agent runs for one trial with ``params`` (its ``${...}`` macros expanded as the
    agent expands them: ``--key=value`` per parameter)."""
    out: list[str] = []
    for part in sweep.get("command") or ["${env}", "${interpreter}", "${program}", "${args}"]:
        if part == "${env}":
            continue  # /usr/bin/env: runs the interpreter from PATH
        if part == "${interpreter}":
            out.append(python)
        elif part == "${program}":
            out.append(sweep["program"])
        elif part == "${args}":
            out += [f"--{k}={v}" for k, v in params.items()]
        elif part == "${args_no_hyphens}":
            out += [f"{k}={v}" for k, v in params.items()]
        else:
            out.append(str(part))
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="cli.py sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("spec", help="a compare spec, configs/compare/<name>.yaml")
    p.add_argument("--out", default=None, help="write the sweep spec here (default: print it)")
    args = p.parse_args(argv)
    spec = load_spec(argparse.Namespace(spec=args.spec, config=[], variant=[], only=None))
    text = dump(sweep_spec(spec), args.spec)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"[sweep] wrote {args.out}; start it with: wandb sweep {shlex.quote(args.out)}")
    else:
        print(text, end="")
    return 0
