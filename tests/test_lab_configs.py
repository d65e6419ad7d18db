"""Every lab config runs fit -> test -> predict through the CLI on embedded data."""

from __future__ import annotations

import pytest

from tests.helpers import TINY, cli, lab_configs, summary

pytestmark = pytest.mark.slow  # end-to-end runs: outside the fast inner loop


def _needs(config, tmp_path) -> list[str]:
    """What a lab needs from another run: transfer_learning a pretrained backbone, from a tiny transfer_pretrain run."""
    if config.stem != "transfer_learning":
        return []
    pre = cli(
        "fit",
        "--config",
        str(config.with_name("transfer_pretrain.yaml")),
        *TINY,
        runs_dir=tmp_path / "runs",
        lab="pretrain",
    )
    return ["--model.init_args.net.init_args.weights", summary(pre)["best_checkpoint"]]


@lab_configs
def test_fit_test_predict(config, tmp_path):
    need = _needs(config, tmp_path)
    runs = tmp_path / "runs"
    run = cli("fit", "--config", str(config), *TINY, *need, "--test_after_fit", "true", runs_dir=runs, lab="lab")
    assert (run / "config.yaml").exists()
    assert (run / "metrics.csv").exists()
    s = summary(run)
    assert s["test"], "test after fit reported no metrics"
    last = run / "checkpoints" / "last.ckpt"
    assert last.exists()
    test_run = cli("test", "--config", str(config), *TINY, *need, "--ckpt_path", str(last), runs_dir=runs, lab="test")
    assert summary(test_run)["test"]
    pred_run = cli(
        "predict", "--config", str(config), *TINY, *need, "--ckpt_path", str(last), runs_dir=runs, lab="pred"
    )
    assert list(pred_run.glob("predictions*.csv")) or list(pred_run.glob("predictions*")), "predict wrote nothing"
