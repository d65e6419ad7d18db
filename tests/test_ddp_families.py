"""Every task module x datamodule pair under 2-process DDP (ddp_spawn, gloo, CPU), and 2-process
evaluation metrics equal to the 1-process ones on the same weights and data.

The classifier on image data trains under DDP in ``tests/test_scaling.py`` and the docs' worked
example in ``tests/test_docs_adding_a_lab.py``; the launchers (torchrun, two nodes) are in
``tests/test_launchers.py``. Every run here is the smallest config that still exercises the pair.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest
import torch

from tests.helpers import DDP_CPU_2, ROOT, TINY, cli, summary

pytestmark = pytest.mark.slow  # multi-process end-to-end runs

LABS = ROOT / "configs" / "labs"

# family -> (config, overrides that shrink it); the lab's own callbacks stay (they must be DDP-safe too)
FAMILIES = {
    "text_bucketing": ("text/attention_toy.yaml", ["--data.init_args.toy_size", "400"]),
    "gd_full_batch": (
        "vision/gd_variants.yaml",
        [
            "--data.init_args.batch_size",
            "full",
            "--data.init_args.max_train_samples",
            "64",
            "--trainer.accumulate_grad_batches",
            "2",
        ],
    ),
    "gan": ("generative/gan.yaml", ["--data.init_args.batch_size", "32"]),
    "cyclegan": (
        "generative/cyclegan.yaml",
        [
            "--model.init_args.generator.init_args.ngf",
            "8",
            "--model.init_args.generator.init_args.n_blocks",
            "1",
            "--model.init_args.discriminator.init_args.ndf",
            "8",
            "--data.init_args.max_train_samples",
            "8",
            "--data.init_args.eval_batch_size",
            "4",
        ],
    ),
    "vae": ("generative/vae.yaml", ["--data.init_args.batch_size", "32"]),
    "dae": ("generative/denoising_ae.yaml", ["--data.init_args.batch_size", "32"]),
    "segmentation": (
        "dense/unet_segmentation.yaml",
        [
            "--model.init_args.net.init_args.depth",
            "2",
            "--model.init_args.net.init_args.base",
            "8",
            "--data.init_args.crop_size",
            "64",
            "--data.init_args.repeats",
            "1",
        ],
    ),
}


def _metrics(run) -> dict[str, float]:
    """The last logged value of every column of ``metrics.csv`` (rank 0 writes the synchronised values)."""
    out: dict[str, float] = {}
    with open(run / "metrics.csv") as f:
        for row in csv.DictReader(f):
            out.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_fits_under_two_process_ddp(family, tmp_path):
    config, shrink = FAMILIES[family]
    run = cli("fit", "--config", str(LABS / config), *TINY, *shrink, *DDP_CPU_2, runs_dir=tmp_path, lab=family)
    assert sorted(p.name for p in (tmp_path / family).iterdir()) == [run.name]  # both ranks in one run dir
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    s = summary(run)
    # ddp_spawn trains in child processes: the counts come from there, not from the idle main trainer (was 0, 0)
    assert s["epochs"] == 1 and s["global_step"] == last["global_step"] > 0
    logged = _metrics(run)
    val = [k for k in logged if k.startswith("val/")]
    assert val and all(math.isfinite(logged[k]) for k in val), logged


def _eval_metrics(sub: str, config: str, extra: list[str], tmp_path, lab: str) -> dict[str, float]:
    run = cli(
        sub,
        "--config",
        str(LABS / config),
        *TINY,
        "--trainer.limit_val_batches",
        "1.0",
        "--trainer.limit_test_batches",
        "1.0",
        "--trainer.callbacks",
        "[]",
        *extra,
        runs_dir=tmp_path,
        lab=lab,
    )
    stage = "val/" if sub == "validate" else "test/"
    return {k: v for k, v in _metrics(run).items() if k.startswith(stage)}


# The same seeded initial weights in both runs (seed_everything runs before the model is built, in the
# main process); the splits have an even number of examples, so the two ranks' shards partition them.
EQUAL = {
    "mnist_mlp": ("vision/mnist_mlp.yaml", []),
    "text_bucketing": ("text/attention_toy.yaml", ["--data.init_args.toy_size", "400"]),  # val 40, test 40
}


# validate and test share each task's step code; mnist_mlp checks the test path only, to keep the file cheap.
@pytest.mark.parametrize(
    ("lab", "sub"), [("mnist_mlp", "test"), ("text_bucketing", "validate"), ("text_bucketing", "test")]
)
def test_two_process_metrics_equal_one_process(lab, sub, tmp_path):
    config, extra = EQUAL[lab]
    one = _eval_metrics(sub, config, extra, tmp_path, f"{lab}_1")
    two = _eval_metrics(sub, config, [*extra, *DDP_CPU_2], tmp_path, f"{lab}_2")
    assert one and one.keys() == two.keys()
    for k in one:
        if k.endswith("/loss"):  # a mean over ranks' partial sums: equal up to float summation order
            assert two[k] == pytest.approx(one[k], rel=1e-6), k
        else:  # torchmetrics counts (acc, f1): exactly equal
            assert two[k] == one[k], k


def _gather_worker(rank: int, port: int, out) -> None:
    import torch.distributed as dist

    from callbacks.latent_figures import LatentScatter

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    cb = LatentScatter(points=6)
    # rank 0 saw 5 examples of label 0, rank 1 saw 3 of label 1: 3 + 3 drawn
    n = 5 if rank == 0 else 3
    cb._mu, cb._labels = [torch.full((n, 2), float(rank))], [torch.full((n,), rank)]
    mu, labels = cb._gather()
    out.put((rank, mu.tolist(), labels.tolist()))
    dist.destroy_process_group()


def test_latent_scatter_draws_every_ranks_shard():
    """Rank 0 draws the figure; before, it drew only its own shard's latents."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_gather_worker, args=(r, port, q)) for r in range(2)]
    for p in procs:
        p.start()
    got = sorted(q.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
    for _, mu, labels in got:
        assert np.asarray(labels).tolist() == [0, 0, 0, 1, 1, 1]
        assert np.asarray(mu)[:, 0].tolist() == [0, 0, 0, 1, 1, 1]
