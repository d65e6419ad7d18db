"""The detection lab under 2-process DDP on CPU (gloo): fit -> test with mAP synchronised over ranks."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary

pytestmark = pytest.mark.slow  # end-to-end runs: outside the fast inner loop

CONFIG = str(ROOT / "configs/labs/dense/detection.yaml")
SMALL = [
    "--data.init_args.canvases.n_train",
    "32",
    "--data.init_args.canvases.n_val",
    "8",
    "--data.init_args.canvases.n_test",
    "8",
]


def test_detection_two_process_ddp(tmp_path):
    # ddp_spawn pickles the module (with its mAP metrics), the datamodule and the callbacks
    run = cli(
        "fit",
        "--config",
        CONFIG,
        *TINY,
        *DDP_CPU_2,
        *SMALL,
        "--data.init_args.eval_batch_size",
        "4",
        "--test_after_fit",
        "true",
        runs_dir=tmp_path,
        lab="ddp",
    )
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2  # limit_train_batches counts per rank
    test = summary(run)["test"]
    assert 0.0 <= test["test/map"] <= test["test/map_50"] <= 1.0
