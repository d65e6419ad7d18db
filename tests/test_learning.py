"""Seeded learning tests: the labs learn on embedded data, not just run."""

from __future__ import annotations

from tests.helpers import ROOT, cli, summary

QUIET = [
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_model_summary",
    "false",
    "--trainer.num_sanity_val_steps",
    "0",
    "--trainer.callbacks",
    "[]",
]


def test_mnist_mlp_clears_90_percent_on_embedded_data(tmp_path):
    # The report's architecture with a sensible learning rate, 4 epochs over 4,500 embedded digits.
    run = cli(
        "fit",
        "--config",
        str(ROOT / "configs/labs/vision/mnist_mlp.yaml"),
        *QUIET,
        "--trainer.max_epochs",
        "4",
        "--model.init_args.optimizer.init_args.lr",
        "1e-3",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path,
        lab="learn",
    )
    s = summary(run)
    assert s["test"]["test/acc"] > 0.90, s["test"]
    assert s["best_score"] > 0.90
