"""Training-loop overhead: one epoch through our CLI vs a plain PyTorch loop.

    python benchmarks/overhead.py [--case mnist_mlp,resnet18] [--repeats 3] [--threads 2]

For each case the CLI builds the lab exactly as `cli.py fit` does (config, datamodule, model,
default callbacks and loggers, progress bar); the plain loop then trains a copy of the same
initial net on the same in-memory tensors, with the same batch size, optimizer and thread
count, written the way the lab reports write it (TensorDataset + DataLoader, loss.item() and
an accuracy count every step). A third column feeds the plain loop from our batched loader,
which separates Lightning's per-step cost from the data path, and a fourth runs bare Lightning
(a three-line LightningModule, no logger, bar, callbacks or checkpoints) on that loader: the
floor any LightningCLI lab stands on. Runs alternate and the median of ``--repeats`` is
reported; the ratio is ours / plain (target <= 1.05).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("DL_LABS_OFFLINE", "1")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch import Callback  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from benchmarks.bare_lightning import fit_bare  # noqa: E402
from cli import VERSION_ENV, LabCLI  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CASES = {
    "mnist_mlp": {
        "config": "configs/labs/vision/mnist_mlp.yaml",
        "data": lambda a: ["--data.init_args.path", a.mnist_path] if Path(a.mnist_path).exists() else [],
    },
    "resnet18": {
        "config": "configs/labs/vision/cifar_vgg_resnet.yaml",
        "data": lambda a: (
            (["--data.init_args.path", a.cifar_path] if Path(a.cifar_path).exists() else [])
            + [
                "--model.init_args.net",
                "lab_modules.nets.ResNet18",
                "--data.init_args.augment",
                "false",
                "--data.init_args.max_train_samples",
                str(a.cifar_samples),
            ]
        ),
    },
}


def build(case: str, args: argparse.Namespace, runs: Path) -> LabCLI:
    os.environ.pop(VERSION_ENV, None)
    spec = CASES[case]
    argv = [
        "--config",
        str(ROOT / spec["config"]),
        *spec["data"](args),
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_val_batches",
        "0",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.accelerator",
        args.accelerator,
        "--trainer.devices",
        "1",
        "--runs_dir",
        str(runs),
        "--lab",
        case,
    ]
    return LabCLI(args=argv, run=False)


class EpochTimer(Callback):
    """Wall time of the epoch's batch loop: from the start of the first batch to the end of the
    last one. Epoch-end work (figures, checkpoint files) is left out, as the plain loop has none;
    the plain loop's clock likewise starts after its first batch is fetched."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.start


def ours(cli: LabCLI) -> float:
    timer = EpochTimer()
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return timer.seconds


class BareModule(L.LightningModule):
    """The least a LightningModule can be: the plain loop's step, nothing logged."""

    def __init__(self, net: torch.nn.Module, optimizer_fn) -> None:
        super().__init__()
        self.net, self.optimizer_fn, self.loss = net, optimizer_fn, torch.nn.CrossEntropyLoss()

    def training_step(self, batch, batch_idx):
        return self.loss(self.net(batch["image"]), batch["label"])

    def configure_optimizers(self):
        return self.optimizer_fn(self.parameters())


def bare(net: torch.nn.Module, optimizer_fn, loader, accelerator: str) -> float:
    timer = EpochTimer()
    fit_bare(BareModule(net, optimizer_fn), loader, [timer], accelerator, max_epochs=1)
    return timer.seconds


def plain(net: torch.nn.Module, optimizer_fn, loader, device: str) -> float:
    """The reports' loop."""
    net = net.to(device).train()
    optimizer = optimizer_fn(net.parameters())
    criterion = torch.nn.CrossEntropyLoss()
    start = None
    running_loss, correct, total = 0.0, 0, 0
    for batch in loader:
        start = start or time.perf_counter()
        images, labels = (batch["image"], batch["label"]) if isinstance(batch, dict) else batch
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = net(images)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(case: str, args: argparse.Namespace) -> dict:
    times = {"ours": [], "plain": [], "plain_batched_loader": [], "bare_lightning": []}
    device = "cuda" if args.accelerator in ("gpu", "cuda") else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats + 1):  # the first round warms up kernels and caches, and is dropped
            cli = build(case, args, Path(tmp))
            dm = cli.datamodule
            dm.setup("fit")
            train = dm.datasets["train"]
            if train.transform is not None:
                raise SystemExit(f"{case}: benchmark needs a transform-free training set")
            net0 = copy.deepcopy(cli.model.net)
            bs = dm.batch_size
            report_loader = DataLoader(TensorDataset(train.images, train.labels), batch_size=bs, shuffle=True)
            round_times = {
                "plain": plain(copy.deepcopy(net0), cli.model.optimizer, report_loader, device),
                "ours": ours(cli),
                "plain_batched_loader": plain(copy.deepcopy(net0), cli.model.optimizer, dm.train_dataloader(), device),
                "bare_lightning": bare(
                    copy.deepcopy(net0), cli.model.optimizer, dm.train_dataloader(), args.accelerator
                ),
            }
            if r > 0:
                for k, v in round_times.items():
                    times[k].append(v)
            steps = len(report_loader)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "case": case,
        "steps": steps,
        "batch": bs,
        **med,
        "ratio": med["ours"] / med["plain"],
        "ratio_same_loader": med["ours"] / med["plain_batched_loader"],
        "ratio_bare": med["bare_lightning"] / med["plain_batched_loader"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", default="mnist_mlp,resnet18")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu", "cuda"])
    p.add_argument("--mnist-path", default=str(SHARED / "mnist"))
    p.add_argument(
        "--cifar-path", default=str(SHARED / "cifar10_jpg_subset" / "cifar10_train_first1000perclass.tar.gz")
    )
    p.add_argument("--cifar-samples", type=int, default=1024)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(c, args) for c in args.case.split(",")]
    print(
        f"\ntorch {torch.__version__}, {args.accelerator}, {torch.get_num_threads()} threads, "
        f"median of {args.repeats} alternating runs, one training epoch (batch loop)"
    )
    print(
        "| case | steps x batch | plain loop (s) | ours (s) | ratio ours/plain | plain, our loader (s) "
        "| ratio, same loader | bare Lightning, our loader (s) | ratio bare / plain, same loader |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['steps']} x {r['batch']} | {r['plain']:.2f} | {r['ours']:.2f} | {r['ratio']:.3f} | "
            f"{r['plain_batched_loader']:.2f} | {r['ratio_same_loader']:.3f} | "
            f"{r['bare_lightning']:.2f} | {r['ratio_bare']:.3f} |"
        )


if __name__ == "__main__":
    main()
