"""Launchers besides ddp_spawn: torchrun (2 processes, and 2 "nodes" of 1 process on localhost), srun's
run directory, and the SLURM template's command line (parsed, so it cannot rot)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
import torch
import yaml

from tests.helpers import ROOT, TINY, cli, summary

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")
SBATCH = ROOT / "scripts" / "slurm" / "fit.sbatch"
CPU_DDP = ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC_", "DL_LABS_RUN"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _fit_args(tmp_path, lab: str) -> list[str]:
    return [str(ROOT / "cli.py"), "fit", "--config", MNIST, *TINY, *CPU_DDP, "--runs_dir", str(tmp_path), "--lab", lab]


def _one_run(tmp_path, lab: str):
    runs = sorted(p.name for p in (tmp_path / lab).iterdir())
    assert len(runs) == 1, f"the ranks claimed {runs}: every rank must use one run directory"
    run = tmp_path / lab / runs[0]
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert summary(run)["global_step"] == last["global_step"] == 2  # limit_train_batches per rank
    return run


@pytest.mark.slow
def test_torchrun_two_processes_share_one_run_dir(tmp_path):
    # Before: each rank claimed a version_N of its own (version_0 and version_1).
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    res = subprocess.run(
        [*cmd, *_fit_args(tmp_path, "tr"), "--trainer.devices", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert _one_run(tmp_path, "tr").name == "version_0"


@pytest.mark.slow
def test_two_torchrun_nodes_on_localhost(tmp_path):
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc_per_node",
                "1",
                "--node_rank",
                str(node),
                "--master_addr",
                "127.0.0.1",
                "--master_port",
                str(port),
                *_fit_args(tmp_path, "nodes"),
                "--trainer.devices",
                "1",
                "--trainer.num_nodes",
                "2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
            env=_env(),
        )
        for node in (0, 1)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outs)
    _one_run(tmp_path, "nodes")


# --- the run directory agreement itself (fast: no training) ----------------------------------------------------
def test_torchrun_ranks_agree_through_the_agent_store(monkeypatch, tmp_path):
    from torch.distributed import TCPStore

    from runtime.launch import launch_version

    port = _free_port()
    server = TCPStore("127.0.0.1", port, is_master=True, timeout=timedelta(seconds=30))  # what torchrun's agent serves
    claims = []
    env = dict(TORCHELASTIC_USE_AGENT_STORE="True", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("RANK", "0")
    assert launch_version(lambda: claims.append(1) or "version_7") == "version_7"
    monkeypatch.setenv("RANK", "1")
    assert launch_version(lambda: claims.append(1) or "version_8") == "version_7"
    assert claims == [1]  # only rank 0 claims a directory
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # an elastic restart is a new run
    monkeypatch.setenv("RANK", "0")
    assert launch_version(lambda: "version_9") == "version_9"
    del server


def test_srun_tasks_share_the_job_steps_run_dir(monkeypatch):
    from runtime.launch import launch_version

    for k in [k for k in os.environ if k.startswith(("TORCHELASTIC_", "SLURM_"))]:
        monkeypatch.delenv(k)
    assert launch_version(lambda: "version_0") is None  # no launcher: the process claims its own run
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    runs = []
    for rank in ("0", "1"):
        monkeypatch.setenv("SLURM_PROCID", rank)
        runs.append(launch_version(lambda: pytest.fail("srun tasks claim no version_N")))
    assert runs == ["slurm-4242.0", "slurm-4242.0"]


# --- the SLURM template ------------------------------------------------------------------------------------------
def _srun_args() -> list[str]:
    text = SBATCH.read_text()
    line = next(ln for ln in text.replace("\\\n", " ").splitlines() if ln.startswith("srun "))
    values = {
        "CONFIG": str(ROOT / "configs/labs/vision/mnist_mlp.yaml"),
        "SLURM_NNODES": "2",
        "SLURM_NTASKS_PER_NODE": "4",
        "RUNS_DIR": "/shared/runs",
    }
    line = line.replace('${RESUME[@]+"${RESUME[@]}"}', "").replace('"$@"', "")
    line = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], line)
    args = shlex.split(line)
    assert args[:3] == ["srun", "python", "cli.py"]
    return args[3:]


def test_slurm_template_asks_for_what_the_command_uses():
    text = SBATCH.read_text()
    for directive in ("nodes", "ntasks-per-node", "gpus-per-node", "cpus-per-task", "time", "signal", "requeue"):
        assert re.search(rf"^#SBATCH --{directive}\b", text, re.M), directive
    assert re.search(r"^#SBATCH --signal=SIGTERM@\d+", text, re.M)


def test_slurm_template_command_line_parses(capsys):
    args = _srun_args()
    cli(*args, "--print_config")
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["trainer"]["num_nodes"] == 2 and str(cfg["trainer"]["devices"]) == "4"  # Lightning reads "4" as 4
    assert cfg["trainer"]["strategy"] == "ddp" and cfg["trainer"]["accelerator"] == "gpu"
    assert cfg["runs_dir"] == "/shared/runs"
