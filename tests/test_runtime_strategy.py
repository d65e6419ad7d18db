"""The DDP strategy a task asks for: public registered names instead of a private strategy attribute."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from lightning.pytorch.strategies import StrategyRegistry

from lab_modules.gan import GAN
from lab_modules.task import LabTask
from runtime.strategy import DDP_NAMES, for_unused_parameters

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", DDP_NAMES)
def test_a_task_that_leaves_parameters_out_gets_the_registered_twin(name: str) -> None:
    twin = for_unused_parameters(name, GAN.__new__(GAN))
    assert twin == f"{name}_find_unused_parameters_true"
    assert twin in StrategyRegistry  # Lightning's own name, so Trainer(strategy=twin) builds it
    assert StrategyRegistry[twin]["init_params"].get("find_unused_parameters") is True


@pytest.mark.parametrize("strategy", ["auto", "ddp", "fsdp", None])
def test_other_tasks_and_strategies_are_left_as_given(strategy: str | None) -> None:
    assert for_unused_parameters(strategy, LabTask()) == strategy
    if strategy not in DDP_NAMES:
        assert for_unused_parameters(strategy, GAN.__new__(GAN)) == strategy


def test_no_task_module_reads_the_strategys_private_arguments() -> None:
    for path in (ROOT / "lab_modules").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == "_ddp_kwargs":
                pytest.fail(f"{path} names the private DDPStrategy._ddp_kwargs")
