"""What every run printed that nobody could act on, options taken by prefix, and silent CPU oversubscription."""

from __future__ import annotations

import logging
import os
import warnings

import pytest
from jsonargparse import Namespace

from tests.helpers import ROOT, TINY

MNIST = str(ROOT / "configs/labs/vision/mnist_mlp.yaml")


def _main(*args: str) -> int:
    from cli import main

    os.environ.pop("DL_LABS_RUN_VERSION", None)
    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        os.environ.pop("DL_LABS_RUN_VERSION", None)
    return 0


def test_a_run_prints_neither_the_treespec_warning_nor_the_litlogger_tip(tmp_path, capfd):
    filters_before, env_before = list(warnings.filters), os.environ.get("PYTHONWARNINGS")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # whatever was shown before in this process shows again
        assert _main("fit", "--config", MNIST, *TINY, "--runs_dir", str(tmp_path)) == 0
    out, err = capfd.readouterr()
    assert not [w for w in seen if "LeafSpec" in str(w.message)]
    assert "litlogger" not in out + err and "LeafSpec" not in out + err
    assert "[dl-labs] run files:" in out  # the other info lines still show
    # Scoped to the run: the process's filters and environment are as they were.
    assert warnings.filters == filters_before and os.environ.get("PYTHONWARNINGS") == env_before


def test_the_filters_are_narrow():
    """Another FutureWarning, and the same text from another module, still show inside a run's filters."""
    from runtime.quiet import TIP_LOGGER, quiet_run

    with quiet_run(), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        warnings.warn_explicit("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, "mine.py", 1, "mine")
        warnings.warn_explicit("something else is deprecated", FutureWarning, "x.py", 1, TIP_LOGGER)
    assert len(seen) == 2


def test_the_litlogger_tip_is_filtered_on_its_logger_only_during_a_run(caplog):
    from runtime.quiet import TIP_LOGGER, quiet_run

    tip = "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](...)"
    logger = logging.getLogger(TIP_LOGGER)
    with caplog.at_level(logging.INFO, logger=TIP_LOGGER):
        with quiet_run():
            logger.info(tip)
            logger.info("GPU available: False")
        logger.info(tip)
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False", tip]


def test_fast_dev_run_says_it_wrote_nothing(tmp_path, capfd):
    assert _main("fit", "--config", MNIST, *TINY, "--trainer.fast_dev_run", "true", "--runs_dir", str(tmp_path)) == 0
    out, _ = capfd.readouterr()
    assert "run files: None" not in out
    assert "[dl-labs] fast_dev_run: no metrics, checkpoints or summary were written" in out


@pytest.mark.parametrize("option", ["--trainer.max_epoch", "--trainer.max_epo", "--test_after"])
def test_an_abbreviated_option_is_an_error_naming_the_full_one(tmp_path, capfd, option):
    code = _main("fit", "--config", MNIST, *TINY, option, "1", "--runs_dir", str(tmp_path))
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(err) == 1, err
    assert f"unknown option {option}" in err[0]
    full = {"--test_after": "--test_after_fit"}.get(option, "--trainer.max_epochs")
    assert full in err[0]
    assert not (tmp_path / "mnist_mlp").exists()


def test_more_cpu_processes_than_cores_is_a_warning_with_the_core_count():
    from commands.preflight import check_trainer

    cores = os.cpu_count() or 1
    with pytest.warns(UserWarning, match=rf"{cores} CPU cores"):
        check_trainer(Namespace(accelerator="cpu", devices=cores + 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_trainer(Namespace(accelerator="cpu", devices=cores))
        check_trainer(Namespace(accelerator="cpu", devices="auto"))


def test_the_dl_labs_console_script_points_at_the_cli():
    import importlib
    import re

    scripts = (ROOT / "pyproject.toml").read_text().split("[project.scripts]", 1)[1]
    target = re.search(r'^dl-labs = "([\w.:]+)"', scripts, re.M).group(1)
    module, _, name = target.partition(":")
    assert callable(getattr(importlib.import_module(module), name))
