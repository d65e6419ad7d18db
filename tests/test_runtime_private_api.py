"""Every private name of another library that the project uses lives in ``runtime/`` and is pinned here, one test
per name: a library upgrade that moves or reshapes one fails in the test that names it. The scan at the end keeps
private names from coming back elsewhere."""

from __future__ import annotations

import ast
import atexit
import inspect
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from torchmetrics import MeanMetric

from tests.helpers import ROOT


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def _trainer(tmp_path: Path) -> Trainer:
    return Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, default_root_dir=tmp_path)


# --- runtime/hook_dispatch.py --------------------------------------------------------------------------------------
def test_call_callback_hooks():
    from lightning.pytorch.trainer import call

    assert _params(call._call_callback_hooks) == ["trainer", "hook_name", "args", "monitoring_callbacks", "kwargs"]
    assert "pl_module._current_fx_name = hook_name" in inspect.getsource(call._call_callback_hooks)


def test_lightning_module_current_fx_name():
    module = L.LightningModule()
    assert hasattr(module, "_current_fx_name")
    module._current_fx_name = "on_train_start"
    assert module._current_fx_name == "on_train_start"


# --- runtime/preemption.py -----------------------------------------------------------------------------------------
def test_trainer_signal_connector_received_sigterm(tmp_path):
    trainer = _trainer(tmp_path)
    trainer._signal_connector.received_sigterm = True
    assert trainer.received_sigterm is True  # the public property reads this flag
    trainer._signal_connector.received_sigterm = False
    assert trainer.received_sigterm is False


def test_trainer_logger_connector_step_flush(tmp_path):
    connector = _trainer(tmp_path)._logger_connector
    assert _params(connector.on_batch_end) == []
    assert _params(connector.update_train_step_metrics) == []


# --- runtime/launchers.py ------------------------------------------------------------------------------------------
def test_multiprocessing_launcher_is_ddp_spawns(tmp_path):
    from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

    from runtime.launchers import spawns_workers

    spawn = Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False, default_root_dir=tmp_path)
    assert isinstance(spawn.strategy.launcher, _MultiProcessingLauncher) and spawns_workers(spawn)
    assert not spawns_workers(_trainer(tmp_path))


# --- runtime/resume_state.py ---------------------------------------------------------------------------------------
def test_metric_update_count_backs_the_public_property():
    from runtime.resume_state import set_update_count

    metric = MeanMetric()
    metric.update(torch.tensor(2.0))
    assert metric._update_count == metric.update_count == 1
    set_update_count(metric, 5)
    assert metric.update_count == 5 and metric.update_called


# --- runtime/csv_resume.py -----------------------------------------------------------------------------------------
def test_csv_logger_experiment_and_writer_dir_check(tmp_path):
    logger = CSVLogger(tmp_path)
    assert logger._experiment is None  # created lazily: the resumed run's writer is put in its place first
    assert _params(ExperimentWriter._check_log_dir_exists) == ["self"]


# --- runtime/exit.py -----------------------------------------------------------------------------------------------
def test_atexit_run_exitfuncs_and_os_exit():
    """exit_now runs the atexit handlers (atexit._run_exitfuncs) and ends with the code given (os._exit)."""
    assert callable(atexit._run_exitfuncs) and callable(os._exit)
    code = "import atexit; atexit.register(print, 'handler ran'); from runtime.exit import exit_now; exit_now(3)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert (done.returncode, done.stdout) == (3, "handler ran\n"), done.stderr


# --- runtime/quiet.py (names a private module in a warning filter) -------------------------------------------------
def test_treespec_warning_comes_from_lightnings_pytree_module():
    import importlib

    from runtime import quiet

    module = importlib.import_module(quiet.TREESPEC_MODULE)
    assert "LeafSpec()" in inspect.getsource(module)


# --- runtime/compile_stats.py --------------------------------------------------------------------------------------
def test_dynamo_counters_count_unique_graphs():
    from runtime.compile_stats import graph_count, reset_graph_count

    reset_graph_count()
    assert graph_count() == 0
    compiled = torch.compile(lambda x: x * 2 + 1, backend="eager")
    compiled(torch.ones(3))
    assert graph_count() == 1


# --- no private names outside runtime/ -----------------------------------------------------------------------------
PROJECT = {"labcore", "runtime", "lab_modules", "datamodules", "callbacks", "commands", "benchmarks", "cli", "tests"}
SCANNED = ["cli.py", "labcore", "lab_modules", "datamodules", "callbacks", "commands", "benchmarks", "scripts"]
# Private imports still used outside runtime/ (each must still occur, so the list only shrinks; a new one fails).
KNOWN: set[tuple[str, str]] = set()


def private_imports(path: Path) -> list[str]:
    """``module.name`` of every import in ``path`` that names a private module or name of another package."""
    found = []
    siblings = {p.stem for p in path.parent.glob("*.py")}  # a script's own helper module (benchmarks/peers/_common)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in PROJECT | siblings or node.module == "__future__":
                continue
            private_module = any(part.startswith("_") for part in node.module.split("."))
            for alias in node.names:
                if private_module or alias.name.startswith("_"):
                    found.append(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] not in PROJECT and any(p.startswith("_") for p in parts):
                    found.append(alias.name)
    return found


def scan() -> set[tuple[str, str]]:
    files = [ROOT / "cli.py"] + [p for d in SCANNED[1:] for p in sorted((ROOT / d).rglob("*.py"))]
    return {(f.relative_to(ROOT).as_posix(), name) for f in files for name in private_imports(f)}


def test_no_private_imports_outside_runtime():
    found = scan()
    assert found - KNOWN == set(), "private names of other packages belong in runtime/, pinned by a test here"
    assert KNOWN - found == set(), "no longer used: remove it from KNOWN"


def test_the_scan_sees_a_private_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher\n"
        "import torch._dynamo\nfrom torch.utils._pytree import tree_map\nfrom runtime import _x\nimport os\n"
    )
    assert private_imports(sample) == [
        "lightning.pytorch.strategies.launchers.multiprocessing._MultiProcessingLauncher",
        "torch._dynamo",
        "torch.utils._pytree.tree_map",
    ]
