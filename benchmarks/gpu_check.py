"""The prepared GPU check: one command, under 8 minutes on one GPU, a markdown report at the end.

    python benchmarks/gpu_check.py                     # on a GPU machine (or benchmarks/gpu_check.sh)
    python benchmarks/gpu_check.py --smoke             # CPU plumbing check: tiny sizes, a few steps

(a) CIFAR speed: the shared 10k CIFAR subset is read ONCE through our datamodule's split; the airbench94 script
    (benchmarks/peers/airbench94.py, fed those tensors) trains on the train split and reports its final (TTA) test
    accuracy A and its time; then our lab configs/labs/vision/cifar_speed.yaml trains through the CLI (bf16-mixed,
    GPU-resident batches) on the same tensors, evaluated on the same test images at each epoch end (those
    evaluations' time left out), and the time at which it first reaches A is compared: ours / airbench. Both get a
    short warm-up run first (cudnn autotuning, CUDA context), which is not timed.
(b) Speed switches: benchmarks/switches.py (samples/s per lab in fp32, bf16-mixed and compiled), one lab per
    subprocess within the remaining time budget, its tables included as printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("DL_LABS_OFFLINE", "1")
# LightningCLI(args=...) warns when the script itself has arguments: here they are gpu_check's, on purpose
warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch import Callback  # noqa: E402

from cli import VERSION_ENV, LabCLI  # noqa: E402

CONFIG = ROOT / "configs" / "labs" / "vision" / "cifar_speed.yaml"
SUBSET = Path("data") / "cifar10_jpg_subset" / "cifar10_train_first1000perclass.tar.gz"
# the shared data beside the checkout (this machine) or inside it (a device machine gets <checkout>/shared/)
DATA_CANDIDATES = [ROOT.parent / "shared" / SUBSET, ROOT / "shared" / SUBSET]
SWITCH_LABS = ["mnist_mlp", "cifar_bn_augment", "cifar_vgg_resnet", "sentiment_rnn", "temperature_rnn"]
SWITCH_VARIANTS_GPU = "fp32,bf16,compiled,on_device"
MIN_SHARE_S = 20.0  # a switches lab given less time than this is not started
SMOKE = {"train_samples": 256, "test_samples": 256, "batch_size": 64, "epochs": 1, "steps": 5}


@dataclass
class OursResult:
    """Our lab's run: per-epoch test accuracy against the time spent (evaluations excluded)."""

    epochs: list[dict] = field(default_factory=list)  # {epoch, acc, fit_s, loop_s}
    reached: dict | None = None  # the first epoch row with acc >= target
    total_fit_s: float = 0.0
    total_loop_s: float = 0.0

    @property
    def best_acc(self) -> float:
        return max((e["acc"] for e in self.epochs), default=float("nan"))


class TargetTimer(Callback):
    """Evaluates ``images`` / ``labels`` (standardised floats) at each training epoch end, in eval mode under the
    trainer's precision, and records the wall time so far with the evaluation time taken out. ``fit_start`` is the
    clock reading just before ``trainer.fit`` (Lightning's setup, moving the model and data, whitening init count);
    the loop time starts at ``on_train_start``."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, target: float | None, fit_start: float, eval_batch: int = 2000
    ) -> None:
        self.images, self.labels, self.target = images, labels, target
        self.fit_start, self.eval_batch = fit_start, eval_batch
        self.excluded = 0.0
        self.result = OursResult()

    def _sync(self, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._sync(pl_module)
        self.loop_start = time.perf_counter()
        self.images = self.images.to(pl_module.device)
        self.labels = self.labels.to(pl_module.device)
        self.excluded += time.perf_counter() - self.loop_start  # moving the test images is ours, not the lab's

    @torch.no_grad()
    def accuracy(self, trainer: L.Trainer, pl_module: L.LightningModule) -> float:
        was_training = pl_module.training
        pl_module.eval()
        correct = 0
        with trainer.precision_plugin.forward_context():
            for start in range(0, len(self.images), self.eval_batch):
                logits = pl_module(image=self.images[start : start + self.eval_batch])
                correct += int((logits.argmax(-1) == self.labels[start : start + self.eval_batch]).sum())
        pl_module.train(was_training)
        return correct / max(1, len(self.labels))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._sync(pl_module)
        now = time.perf_counter()
        acc = self.accuracy(trainer, pl_module)
        row = {
            "epoch": trainer.current_epoch + 1,
            "acc": acc,
            "fit_s": now - self.fit_start - self.excluded,
            "loop_s": now - self.loop_start - self.excluded,
        }
        self.excluded += time.perf_counter() - now
        self.result.epochs.append(row)
        if self.target is not None and self.result.reached is None and acc >= self.target:
            self.result.reached = row

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._sync(pl_module)
        now = time.perf_counter()
        self.result.total_fit_s = now - self.fit_start - self.excluded
        self.result.total_loop_s = now - self.loop_start - self.excluded


def find_data(path: str | None, smoke: bool) -> str | None:
    """The CIFAR subset to use: ``--data``, else the shared copy; None (embedded sample) only in smoke mode."""
    if path:
        if not Path(path).exists():
            raise SystemExit(f"gpu_check: --data {path} does not exist; pass the CIFAR subset tarball")
        return path
    for candidate in DATA_CANDIDATES:
        if candidate.exists():
            return str(candidate)
    if smoke:
        return None
    raise SystemExit(
        f"gpu_check: the CIFAR subset is not at {DATA_CANDIDATES[0]} nor {DATA_CANDIDATES[1]}; pass --data "
        "(e.g. copy ../shared/data/cifar10_jpg_subset into ./shared/data/ so it travels to the device machine)"
    )


def lab_args(args: argparse.Namespace, epochs: int, runs: Path, name: str, on_device: bool) -> list[str]:
    """The CLI arguments of one cifar_speed run."""
    argv = [
        "--config", str(CONFIG),
        "--trainer.max_epochs", str(epochs),
        "--trainer.accelerator", args.accelerator,
        "--trainer.devices", "1",
        "--trainer.precision", args.precision,
        "--trainer.limit_val_batches", "0",
        "--trainer.num_sanity_val_steps", "0",
        "--trainer.enable_checkpointing", "false",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--runs_dir", str(runs),
        "--lab", name,
    ]  # fmt: skip
    if args.accelerator != "cpu":
        argv += ["--trainer.benchmark", "true"]  # cudnn autotuning, as airbench94 sets it
    argv += ["--data.init_args.path", args.data] if args.data else ["--data.init_args.source", "embedded"]
    if on_device:
        argv += ["--data.init_args.on_device", "true"]
    if args.smoke:
        argv += [
            "--data.init_args.max_train_samples", str(SMOKE["train_samples"]),
            "--data.init_args.batch_size", str(SMOKE["batch_size"]),
            "--trainer.limit_train_batches", str(SMOKE["steps"]),
        ]  # fmt: skip
    return argv


def build(args: argparse.Namespace, epochs: int, runs: Path, name: str) -> tuple[LabCLI, bool]:
    """The lab through the CLI as ``cli.py fit`` builds it; falls back to host batches when ``on_device`` is not an
    option of the datamodule (the speed-switches branch not merged), and says which it got."""
    os.environ.pop(VERSION_ENV, None)
    if args.on_device:
        try:
            return LabCLI(args=lab_args(args, epochs, runs, name, True), run=False), True
        except (SystemExit, argparse.ArgumentError) as e:  # an unknown option: jsonargparse raises or exits
            reason = str(e).strip().splitlines()[-3:] if str(e) else ["refused"]
            print(f"gpu_check: --data.init_args.on_device refused ({' '.join(reason)}); running with host batches")
            args.on_device = False
    return LabCLI(args=lab_args(args, epochs, runs, name, False), run=False), False


def split_tensors(dm) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """uint8 N x 3 x 32 x 32 images and labels of our train and test splits (test images are stored standardised:
    their uint8 values are recovered exactly by undoing the standardisation and rounding)."""
    out = {}
    for split in ("train", "test"):
        ds = dm.datasets[split]
        images = ds.images.cpu()
        if images.dtype != torch.uint8:
            images = ((images * ds.std + ds.mean) * 255.0).round().clamp(0, 255).to(torch.uint8)
        out[split] = (images, ds.labels.cpu())
    return out


def standardise(images: torch.Tensor, dm) -> torch.Tensor:
    mean = torch.tensor(dm.mean).view(1, -1, 1, 1)
    std = torch.tensor(dm.std).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def load_airbench():
    """The vendored airbench94 script as a module (it sets cudnn.benchmark on import, as the script does)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("airbench94", ROOT / "benchmarks" / "peers" / "airbench94.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feed_check(ab, tensors: dict, batch_size: int) -> str:
    """Feeds our tensors through airbench's loader on the CPU (its training needs CUDA): shapes, dtype, label set."""
    images, labels = tensors["train"]
    loader = ab.CifarLoader(images, labels, train=True, batch_size=batch_size, aug=ab.hyp["aug"], device="cpu")
    batches = list(loader)
    x, y = batches[0]
    assert x.shape[1:] == (3, 32, 32) and x.dtype == torch.float16, (x.shape, x.dtype)
    assert set(torch.cat([b[1] for b in batches]).tolist()) <= set(labels.tolist())
    return f"{len(batches)} batches of {tuple(x.shape)} {x.dtype} (drop_last: {len(images) % batch_size} left out)"


def run_airbench(ab, tensors: dict, epochs: int) -> dict:
    ab.main("warmup", tensors["train"], tensors["test"], epochs=2, verbose=False)
    ab.print_columns(ab.logging_columns_list, is_head=True)
    return ab.main(0, tensors["train"], tensors["test"], epochs=epochs, verbose=True)


def run_ours(
    args: argparse.Namespace,
    dm,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    target: float | None,
    epochs: int,
    runs: Path,
) -> OursResult:
    """A short untimed warm-up fit, then the timed one; both on the datamodule already set up (data read once)."""
    if not args.smoke:
        warm, _ = build(args, 1, runs, "warmup")
        warm.trainer.fit(warm.model, datamodule=dm)
    cli, _ = build(args, epochs, runs, "timed")
    start = time.perf_counter()
    timer = TargetTimer(test_images, test_labels, target, start)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=dm)
    return timer.result


def speed_report(
    ab_result: dict | None, ours: OursResult, target: float | None, on_device: bool, note: str = ""
) -> list[str]:
    """The CIFAR speed section: both times, the ratio ours / airbench, or "not reached"."""
    lines = ["## (a) CIFAR speed: cifar_speed lab vs airbench94, same data, same GPU", ""]
    lines += [note] if note else []
    lines.append(f"our batches: {'on_device (device-resident on a GPU)' if on_device else 'host loader'}")
    if ab_result is not None:
        lines.append(
            f"airbench94: {ab_result['steps']} steps, test accuracy {ab_result['tta_val_acc']:.4f} (TTA; "
            f"{ab_result['val_acc']:.4f} without) in {ab_result['total_time_seconds']:.2f} s (its own clock: "
            "whitening init + training + final TTA evaluation)"
        )
    lines += ["", "| epoch | our test acc (TTA) | our time since fit() (s) | our training-loop time (s) |",
              "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {e['epoch']} | {e['acc']:.4f} | {e['fit_s']:.2f} | {e['loop_s']:.2f} |" for e in ours.epochs]
    lines.append("")
    if target is None:
        lines.append(f"no airbench reference (it needs CUDA): our best accuracy {ours.best_acc:.4f}, "
                     f"full run {ours.total_fit_s:.2f} s")  # fmt: skip
        return lines
    ab_s = ab_result["total_time_seconds"] if ab_result else float("nan")
    if ours.reached is not None:
        r = ours.reached
        lines.append(
            f"**time to {target:.4f}: ours {r['fit_s']:.2f} s (epoch {r['epoch']}; loop only {r['loop_s']:.2f} s), "
            f"airbench94 {ab_s:.2f} s; ratio ours/airbench {r['fit_s'] / ab_s:.2f} (loop only "
            f"{r['loop_s'] / ab_s:.2f})**"
        )
    else:
        lines.append(
            f"**not reached**: our best accuracy {ours.best_acc:.4f} < {target:.4f}; full runs: ours "
            f"{ours.total_fit_s:.2f} s, airbench94 {ab_s:.2f} s, ratio ours/airbench {ours.total_fit_s / ab_s:.2f}"
        )
    return lines


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def switch_jobs(labs: list[str], variants: str | None) -> list[tuple[str, str | None, float]]:
    """(lab, variants, weight) per subprocess: each lab's compiled variants in a call of their own (switches.py adds
    its fp32 reference again), so a compile warm-up past its time share loses only those rows; compile calls get
    twice the time share."""
    if not variants:
        return [(lab, None, 1.0) for lab in labs]
    names = [v for v in variants.split(",") if v]
    cheap = ",".join(v for v in names if "compiled" not in v)
    heavy = ",".join(v for v in names if "compiled" in v)
    jobs = []
    for lab in labs:
        jobs += [(lab, cheap, 1.0)] if cheap else []
        jobs += [(lab, heavy, 2.0)] if heavy else []
    return jobs


def run_switches(args: argparse.Namespace, deadline: float) -> list[str]:
    """benchmarks/switches.py, one lab (and its compiled variants apart) per subprocess, each within its share of
    what is left of the time budget; the rows of every call that finished, one line for each that did not."""
    accel = "gpu" if args.accelerator != "cpu" else "cpu"
    lines = ["## (b) Speed switches: samples/s per lab and variant (benchmarks/switches.py)", ""]
    script = Path(args.switches_script)
    if not script.exists():
        return lines + [f"{script} is absent (the speed-switches branch is not merged): not run"]
    lines.append(
        f"command per call: `python benchmarks/{script.name} --accelerator {accel} --labs <lab> --variants <v> "
        f"--json <file>`{' (smoke: --steps 3 --warmup 1 --threads 1)' if args.smoke else ''}"
    )
    jobs = switch_jobs([lab for lab in args.switch_labs.split(",") if lab], args.switch_variants)
    header: list[str] = []
    rows: list[str] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for i, (lab, variants, weight) in enumerate(jobs):
        what = f"{lab} [{variants or 'default variants'}]"
        share = (deadline - time.perf_counter()) * weight / sum(w for *_, w in jobs[i:])
        if share < MIN_SHARE_S:
            notes.append(f"{what}: not run (time budget spent)")
            continue
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out_json = f.name
        cmd = [sys.executable, str(script), "--accelerator", accel, "--labs", lab, "--json", out_json]
        cmd += ["--variants", variants] if variants else []
        cmd += ["--steps", "3", "--warmup", "1", "--threads", "1"] if args.smoke else []
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=share)
        except subprocess.TimeoutExpired:
            notes.append(f"{what}: timed out after {share:.0f} s (its rows are lost)")
            continue
        table = table_lines(proc.stdout)
        if proc.returncode != 0 or len(table) < 3:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            notes.append(f"{what}: failed (exit {proc.returncode}): {' / '.join(tail)}")
            continue
        header = header or table[:2]
        for row in table[2:]:
            key = tuple(c.strip() for c in row.strip("|").split("|")[:2])
            if key not in seen:  # a compile call's fp32 reference repeats the first call's
                seen.add(key)
                rows.append(row)
        info = [line for line in proc.stdout.splitlines() if line.startswith("torch ")]
        notes.append(f"{what}: {time.perf_counter() - start:.0f} s{'; ' + info[0] if info else ''}")
    return lines + [""] + header + rows + [""] + notes


def environment(args: argparse.Namespace) -> list[str]:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU)"
    return [
        "# GPU check",
        "",
        f"GPU: {gpu}; torch {torch.__version__}, lightning {L.__version__}, Python {platform.python_version()}; "
        f"accelerator {args.accelerator}, precision {args.precision}{', SMOKE (tiny sizes)' if args.smoke else ''}",
        f"command: `python benchmarks/gpu_check.py {' '.join(sys.argv[1:])}`".replace("  ", " "),
        "",
    ]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (embedded data unless --data)")
    p.add_argument("--accelerator", default=None, help="gpu (default) or cpu (default with --smoke)")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--data", default=None, help="the CIFAR subset tarball (default: the shared copy)")
    p.add_argument("--epochs", type=int, default=None, help="both recipes' epochs (default: the lab config's)")
    p.add_argument("--no-on-device", dest="on_device", action="store_false", help="our batches from the host loader")
    p.add_argument("--batch-device", default=None, help="force on_device's device (e.g. cpu, to check that path)")
    p.add_argument("--budget", type=float, default=450.0, help="seconds for the whole check (switches get the rest)")
    p.add_argument("--switch-labs", default=",".join(SWITCH_LABS))
    p.add_argument("--switches-script", default=str(ROOT / "benchmarks" / "switches.py"))
    p.add_argument("--switch-variants", default=None, help=f"default {SWITCH_VARIANTS_GPU} (GPU)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-switches", action="store_true")
    p.add_argument("--json", default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    args.accelerator = args.accelerator or ("cpu" if args.smoke else "gpu")
    if args.switch_variants is None and args.accelerator != "cpu":
        args.switch_variants = SWITCH_VARIANTS_GPU
    if args.smoke and args.switch_variants is None:
        args.switch_variants = "fp32,bf16"
    if args.accelerator != "cpu" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; run with --smoke (CPU plumbing check) or on a GPU machine")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    t0 = time.perf_counter()
    deadline = t0 + args.budget
    torch.manual_seed(0)
    report = environment(args)
    results: dict = {"smoke": args.smoke}
    if not args.skip_speed:
        args.data = find_data(args.data, args.smoke)
        with tempfile.TemporaryDirectory() as tmp:
            runs = Path(tmp)
            first, args.on_device = build(args, 1, runs, "data")
            dm = first.datamodule
            if args.batch_device and args.on_device:
                dm.batch_device = args.batch_device  # on_device's device forced (a CPU check of that path)
            dm.setup("fit")
            epochs = args.epochs or (SMOKE["epochs"] if args.smoke else first.trainer.max_epochs)
            tensors = split_tensors(dm)
            if args.smoke:
                tensors["test"] = tuple(t[: SMOKE["test_samples"]] for t in tensors["test"])
            print(f"gpu_check: data read once: train {len(tensors['train'][0])}, test {len(tensors['test'][0])} "
                  f"images ({args.data or 'embedded sample'}), {epochs} epochs")  # fmt: skip
            ab = load_airbench()
            ab_result, target, note = None, None, ""
            if args.accelerator == "cpu":
                note = (f"airbench94 needs CUDA: not trained; its loader fed our tensors on the CPU: "
                        f"{feed_check(ab, tensors, SMOKE['batch_size'])}")  # fmt: skip
            else:
                ab_result = run_airbench(ab, tensors, epochs)
                target = ab_result["tta_val_acc"]
            test_images = standardise(tensors["test"][0], dm)
            try:
                ours = run_ours(args, dm, test_images, tensors["test"][1], target, epochs, runs)
            except Exception as e:  # noqa: BLE001 - the on_device path is another branch's: fall back, say why
                if not args.on_device:
                    raise
                print(f"gpu_check: the on_device run failed ({type(e).__name__}: {e}); again with host batches")
                args.on_device = False
                dm = build(args, 1, runs, "data-host")[0].datamodule
                dm.setup("fit")
                ours = run_ours(args, dm, test_images, tensors["test"][1], target, epochs, runs)
        report += speed_report(ab_result, ours, target, args.on_device, note) + [""]
        results["speed"] = {"airbench": ab_result, "target": target, "ours": ours.__dict__, "epochs": epochs}
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the switches' subprocesses share the GPU with this process
    if not args.skip_switches:
        report += run_switches(args, deadline) + [""]
    report.append(f"gpu_check wall time: {time.perf_counter() - t0:.0f} s")
    text = "\n".join(report)
    print("\n" + text)
    results["report"] = text
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
