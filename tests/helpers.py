"""Run the CLI in-process (imports paid once per test session) and read what runs wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks.tiny import TINY  # noqa: F401  (the tests' smoke limits, shared with benchmarks --quick)

ROOT = Path(__file__).resolve().parent.parent
LAB_CONFIGS = sorted((ROOT / "configs" / "labs").rglob("*.yaml"))


# Two processes over gloo on CPU: the DDP run every task module x datamodule pair owes.
DDP_CPU_2 = ["--trainer.strategy", "ddp_spawn", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]


def cli(*args: str, runs_dir: Path | None = None, lab: str | None = None) -> Path | None:
    """``python cli.py *args`` in this process; returns the run directory it used."""
    from cli import main

    os.environ.pop("DL_LABS_RUN_VERSION", None)
    extra = []
    if runs_dir is not None:
        extra += ["--runs_dir", str(runs_dir)]
    if lab is not None:
        extra += ["--lab", lab]
    try:
        main([*args, *extra])
    except SystemExit as e:  # main() exits on bad input; surface it as a test failure with the code
        if e.code not in (0, None):
            raise
    version = os.environ.pop("DL_LABS_RUN_VERSION", None)  # "<pid>:version_N", set by cli.py
    if runs_dir is None or lab is None or version is None:
        return None
    return Path(runs_dir) / lab / version.rpartition(":")[2]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def config_id(path: Path) -> str:
    return str(path.relative_to(ROOT / "configs" / "labs"))


lab_configs = pytest.mark.parametrize("config", LAB_CONFIGS, ids=[config_id(p) for p in LAB_CONFIGS])


def run_gloo_ranks(target, world: int = 2, timeout: float = 300) -> list:
    """Start ``world`` spawned processes running ``target(rank, world, port, queue)`` (each joins a gloo group on
    a free localhost port) and return what each put on the queue, in arrival order."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(r, world, port, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results
