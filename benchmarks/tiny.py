"""The tiny trainer limits of smoke runs: the tests' lab runs and ``python -m benchmarks.results --quick``.

One epoch of two training batches, one batch of each evaluation loop, no sanity check, no progress bar:
enough for every hook and callback of a lab to run once, in seconds on a CPU. Not for numbers.
"""

from __future__ import annotations

TINY: list[str] = [
    "--trainer.max_epochs",
    "1",
    "--trainer.limit_train_batches",
    "2",
    "--trainer.limit_val_batches",
    "1",
    "--trainer.limit_test_batches",
    "1",
    "--trainer.limit_predict_batches",
    "1",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_model_summary",
    "false",
    "--trainer.num_sanity_val_steps",
    "0",
]
