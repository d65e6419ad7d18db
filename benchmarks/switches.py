"""The measured effect of each speed switch per lab: training samples/s against plain fp32.

    python benchmarks/switches.py --accelerator cpu --threads 2 --steps 30
    python benchmarks/switches.py --accelerator gpu --json out.json          # benchmarks/gpu_check.py runs this
    python benchmarks/switches.py --labs mnist_mlp,temperature_rnn --variants fp32,bf16 --steps 20

Switches (each a config / command-line setting, no code):

- ``bf16``: ``--trainer.precision bf16-mixed`` (autocast to bfloat16; CPUs with AVX512-BF16/AMX and GPUs);
- ``bf16_cl``: bf16 + ``--trainer.callbacks+=callbacks.ChannelsLast`` (NHWC convolutions; conv labs only);
- ``compiled``: ``--trainer.callbacks+=callbacks.CompileNet`` (``torch.compile`` of the net, in place);
- ``on_device`` (GPU): ``--data.init_args.on_device true`` (the in-memory set in GPU memory, batches cut there);
- ``bf16_compiled`` (GPU): bf16 + CompileNet.

Each (lab, variant) is built in this process exactly as ``cli.py fit`` builds it (``cli.LabCLI(run=False)``:
config, datamodule, model, the lab's callbacks and loggers), with the same data, seed and initial weights for
every variant, validation off. It trains ``--warmup`` steps (compilation happens there) and then ``--steps``
timed steps. A step's time runs from the end of the previous step to the end of this one, so it includes
fetching and moving the batch (what ``on_device`` changes); the step that opens an epoch (its interval holds
the epoch's end work: figures, checkpoint files) is left out, and an epoch's short last batch is never served
(``limit_train_batches`` = the whole batches: it would make a compiled net compile again). On a GPU each step
ends with ``torch.cuda.synchronize()``. The variants of a lab run one after another (``--repeats`` > 1: in
alternating rounds, the median taken).
The loss column is the mean training loss of the last 10 timed steps, so a variant that breaks training shows;
``graphs compiled`` counts Dynamo's graphs (0: the net ran eager, e.g. an RNN/LSTM, which Dynamo skips).
``--budget-s`` caps each run's timed seconds (at least 3 steps), for slow nets on a CPU.
"""

from __future__ import annotations

import argparse
import json
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

import torch  # noqa: E402
from lightning.pytorch import Callback  # noqa: E402

from cli import VERSION_ENV, LabCLI  # noqa: E402
from runtime.compile_stats import graph_count, reset_graph_count  # noqa: E402

BF16 = ["--trainer.precision", "bf16-mixed"]
COMPILE = ["--trainer.callbacks+=callbacks.CompileNet"]
VARIANTS: dict[str, list[str]] = {
    "fp32": [],
    "bf16": BF16,
    "bf16_cl": [*BF16, "--trainer.callbacks+=callbacks.ChannelsLast"],
    "compiled": COMPILE,
    "on_device": ["--data.init_args.on_device", "true"],
    "bf16_compiled": [*BF16, *COMPILE],
}
DEFAULT_VARIANTS = {"cpu": "fp32,bf16,bf16_cl,compiled", "gpu": "fp32,bf16,bf16_cl,compiled,on_device,bf16_compiled"}

# lab -> config, extra arguments, full-data arguments (under --data-root), and which switches apply
LABS: dict[str, dict] = {
    "mnist_mlp": {
        "config": "configs/labs/vision/mnist_mlp.yaml",
        "args": [],
        "data": lambda root: ["--data.init_args.path", str(root / "mnist")],
        "conv": False,
        "tensors": True,
    },
    "cifar_bn_augment": {
        "config": "configs/labs/vision/cifar_bn_augment.yaml",
        "args": ["--data.init_args.augment", "true"],
        "data": lambda root: [
            "--data.init_args.path",
            str(root / "cifar10_jpg_subset" / "cifar10_train_first1000perclass.tar.gz"),
        ],
        "conv": True,
        "tensors": True,
    },
    "cifar_vgg_resnet": {  # the ResNet18 of the lab's three architectures
        "config": "configs/labs/vision/cifar_vgg_resnet.yaml",
        "args": ["--model.init_args.net", "lab_modules.nets.ResNet18"],
        "data": lambda root: [
            "--data.init_args.path",
            str(root / "cifar10_jpg_subset" / "cifar10_train_first1000perclass.tar.gz"),
        ],
        "conv": True,
        "tensors": True,
    },
    "sentiment_rnn": {
        "config": "configs/labs/text/sentiment_rnn.yaml",
        "args": [],
        "data": lambda root: ["--data.init_args.path", str(root / "rt_polarity")],
        "conv": False,
        "tensors": False,  # tokenised text in length buckets: no on_device
    },
    "temperature_rnn": {
        "config": "configs/labs/series/temperature_rnn.yaml",
        "args": [],
        "data": lambda root: ["--data.init_args.path", str(root / "daily_min_temperatures")],
        "conv": False,
        "tensors": True,
    },
}


def applies(lab: str, variant: str) -> str | None:
    """Why ``variant`` does not apply to ``lab`` (None: it does)."""
    if variant == "bf16_cl" and not LABS[lab]["conv"]:
        return "no convolutions"
    if variant == "on_device" and not LABS[lab]["tensors"]:
        return "not an in-memory tensor set"
    return None


class StepTimer(Callback):
    """Times ``steps`` training steps after ``warmup`` (see the module docstring for what a step's time holds)."""

    def __init__(self, warmup: int, steps: int, budget_s: float | None = None) -> None:
        self.warmup, self.steps, self.budget_s = warmup, steps, budget_s
        self.seen = 0
        self.last_end: float | None = None
        self.seconds, self.samples, self.timed = 0.0, 0, 0
        self.full = 0  # the largest batch seen: a smaller one is an epoch's short last batch
        self.losses: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        n = len(next(iter(batch.values()))) if isinstance(batch, dict) else len(batch[0])
        self.full = max(self.full, n)
        self.seen += 1
        if self.seen > self.warmup and self.last_end is not None and batch_idx > 0 and n == self.full:
            self.seconds += now - self.last_end
            self.samples += n
            self.timed += 1
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.losses.append(loss.detach().float())
            over_budget = self.budget_s is not None and self.seconds >= self.budget_s and self.timed >= 3
            if self.timed >= self.steps or over_budget:
                trainer.should_stop = True
        self.last_end = time.perf_counter()  # the timer's own work is left out


def build(lab: str, variant: str, args: argparse.Namespace, runs: Path) -> LabCLI:
    os.environ.pop(VERSION_ENV, None)
    spec = LABS[lab]
    data = spec["data"](args.data_root) if args.data_root is not None else []
    argv = [
        "--config",
        str(ROOT / spec["config"]),
        *spec["args"],
        *data,
        *VARIANTS[variant],
        "--seed_everything",
        "0",
        "--trainer.max_epochs",
        "-1",
        "--trainer.max_steps",
        str(10 * (args.warmup + args.steps)),  # the timer stops the run; short batches and epoch starts are skipped
        "--trainer.limit_val_batches",
        "0",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.accelerator",
        args.accelerator,
        "--trainer.devices",
        "1",
        "--runs_dir",
        str(runs),
        "--lab",
        f"{lab}_{variant}",
    ]
    return LabCLI(args=argv, run=False)


def measure(lab: str, variant: str, args: argparse.Namespace, runs: Path) -> dict:
    torch.compiler.reset()  # every compiled variant starts from nothing (and never hits the recompile limit)
    reset_graph_count()  # the graph count is this run's
    cli = build(lab, variant, args, runs)
    dm = cli.datamodule
    dm.setup("fit")
    train = getattr(dm, "datasets", {}).get("train")
    if train is not None and isinstance(dm.batch_size, int) and len(train) >= dm.batch_size:
        # whole batches only: an epoch's short last batch would make a compiled net compile again
        cli.trainer.limit_train_batches = len(train) // dm.batch_size
    timer = StepTimer(args.warmup, args.steps, args.budget_s)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    if timer.timed < min(args.steps, 3):
        raise SystemExit(f"{lab}/{variant}: only {timer.timed} of {args.steps} steps timed")
    tail = timer.losses[-10:]
    return {
        "graphs": graph_count(),  # graphs compiled (0: the net ran eager)
        "samples_per_s": timer.samples / timer.seconds,
        "loss": float(torch.stack(tail).mean()),
        "steps": timer.timed,
        "batch": timer.full,
    }


def run_lab(lab: str, variants: list[str], args: argparse.Namespace) -> list[dict]:
    rounds: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = variants if r % 2 == 0 else variants[::-1]  # alternating rounds: drift hits every variant
            for v in order:
                if applies(lab, v) is None:
                    start = time.perf_counter()
                    rounds[v].append(measure(lab, v, args, Path(tmp)))
                    print(f"{lab} {v}: {rounds[v][-1]} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    rows = []
    for v in variants:
        why = applies(lab, v)
        if why is not None:
            rows.append({"lab": lab, "variant": v, "skipped": why})
            continue
        speeds = [m["samples_per_s"] for m in rounds[v]]
        rows.append(
            {
                "lab": lab,
                "variant": v,
                "samples_per_s": statistics.median(speeds),
                "loss": rounds[v][-1]["loss"],
                "steps": rounds[v][-1]["steps"],
                "batch": rounds[v][-1]["batch"],
                "graphs": rounds[v][-1]["graphs"],
            }
        )
    base = next((r for r in rows if r["variant"] == "fp32" and "samples_per_s" in r), None)
    for r in rows:
        if base is not None and "samples_per_s" in r:
            r["ratio"] = r["samples_per_s"] / base["samples_per_s"]
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| lab | variant | samples/s | ratio to fp32 | train loss (last 10 timed steps) | timed steps x batch "
        "| graphs compiled |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['lab']} | {r['variant']} | n/a ({r['skipped']}) | | | | |")
            continue
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        graphs = str(r["graphs"]) if "compiled" in r["variant"] else ""
        lines.append(
            f"| {r['lab']} | {r['variant']} | {r['samples_per_s']:.1f} | {ratio} | {r['loss']:.4f} "
            f"| {r['steps']} x {r['batch']} | {graphs} |"
        )
    return "\n".join(lines)


def default_data_root() -> Path | None:
    for root in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data"):
        if root.is_dir():
            return root
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labs", default=",".join(LABS))
    p.add_argument(
        "--variants", default=None, help="default: " + "; ".join(f"{k}: {v}" for k, v in DEFAULT_VARIANTS.items())
    )
    p.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument(
        "--budget-s", type=float, default=None, help="stop a run's timing after this many timed seconds (>= 3 steps)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument(
        "--data-root",
        default=None,
        help="the shared data folder (default ../shared/data when present, else embedded data)",
    )
    p.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    args = p.parse_args()
    labs = [s for s in args.labs.split(",") if s]
    variants = [s for s in (args.variants or DEFAULT_VARIANTS[args.accelerator]).split(",") if s]
    for name, known in (("lab", LABS), ("variant", VARIANTS)):
        bad = [x for x in (labs if name == "lab" else variants) if x not in known]
        if bad:
            raise SystemExit(f"unknown {name} {bad}; choose from {', '.join(known)}")
    if "fp32" not in variants:
        variants.insert(0, "fp32")  # the ratios' reference
    args.data_root = Path(args.data_root) if args.data_root else default_data_root()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = [row for lab in labs for row in run_lab(lab, variants, args)]
    wall = time.perf_counter() - start
    device = torch.cuda.get_device_name() if args.accelerator == "gpu" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"\ntorch {torch.__version__}, {device}; data {args.data_root or 'embedded'}; {args.warmup} warm-up + "
        f"{args.steps} timed steps per run"
        + (f" (or {args.budget_s:.0f} s)" if args.budget_s else "")
        + f", median of {args.repeats}; wall {wall:.0f} s\n"
    )
    print(table(rows))
    if args.json:  # a list of rows; each also says where and how it was measured
        meta = {
            "accelerator": args.accelerator,
            "device": device,
            "torch": torch.__version__,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "data_root": str(args.data_root or "embedded"),
            "wall_s": round(wall, 1),
        }
        Path(args.json).write_text(json.dumps([{**r, **meta} for r in rows], indent=1))


if __name__ == "__main__":
    main()
