"""Every lab config runs fit -> test -> predict through the CLI on embedded data."""

from __future__ import annotations

from tests.helpers import TINY, cli, lab_configs, summary


@lab_configs
def test_fit_test_predict(config, tmp_path):
    run = cli("fit", "--config", str(config), *TINY, "--test_after_fit", "true", runs_dir=tmp_path / "runs", lab="lab")
    assert (run / "config.yaml").exists()
    assert (run / "metrics.csv").exists()
    s = summary(run)
    assert s["test"], "test after fit reported no metrics"
    last = run / "checkpoints" / "last.ckpt"
    assert last.exists()
    test_run = cli("test", "--config", str(config), *TINY, "--ckpt_path", str(last), runs_dir=tmp_path / "runs", lab="test")
    assert summary(test_run)["test"]
    pred_run = cli("predict", "--config", str(config), *TINY, "--ckpt_path", str(last), runs_dir=tmp_path / "runs", lab="pred")
    assert list(pred_run.glob("predictions*.csv")) or list(pred_run.glob("predictions*")), "predict wrote nothing"
