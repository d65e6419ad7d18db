"""The layering holds at import time: a net loads no Lightning, the data package no model libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

HEAVY = ("lightning", "pytorch_lightning", "transformers", "matplotlib", "segmentation_models_pytorch")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nimport json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement, banned",
    [
        ("import lab_modules.nets.mlp", HEAVY),
        ("from lab_modules.nets import MLP, LeNet, ResNet18", HEAVY),
        ("import labcore.errors, labcore.offline, labcore.checkpoints, labcore.log", HEAVY),
        ("import datamodules", ("transformers", "matplotlib", "segmentation_models_pytorch")),
    ],
)
def test_imports_stay_light(statement, banned):
    loaded = _loaded_after(statement)
    assert not loaded & set(banned), f"{statement!r} loaded {sorted(loaded & set(banned))}"


def test_the_lazy_indexes_still_resolve_every_name():
    import callbacks
    import datamodules
    import lab_modules
    import lab_modules.nets

    for package in (callbacks, datamodules, lab_modules, lab_modules.nets):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"


def test_import_linter_contracts_hold():
    """The same check the README's test command runs first (`lint-imports`), so pytest alone also fails on a break."""
    linter = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    res = subprocess.run([linter], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:]
