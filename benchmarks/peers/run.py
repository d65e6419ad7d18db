"""Our labs against the plain PyTorch scripts of the reports (benchmarks/peers/*.py), side by side.

    python benchmarks/peers/run.py [--cases mnist_mlp,cifar_smallcnn,sentiment_lstm,vae_mlp,temperature_rnn]
                                   [--threads 2] [--repeats 1] [--epochs-scale 1.0] [--json out.json]

For every case, in one run and in alternation (peer, ours, peer, ours, ...):

1. **Whole process.** The peer script and `cli.py fit --test_after_fit true` with the lab's report config, the
   same data file (`../shared/data`), epochs and thread count, each a fresh process: wall time from start to
   exit, the training loop's wall time (epochs + per-epoch validation), peak resident memory, test quality.
   Targets: ours / peer <= 1.25 for mnist_mlp (the smallest step) and <= 1.05 where our step is >= 20 ms.
2. **Our cost over bare Lightning.** In this process, the lab as `cli.py` builds it (callbacks, loggers,
   progress bar, checkpoints) against a bare LightningModule that runs the same loss on the same net, loader and
   optimizer with no logger, callbacks or bar: wall time of the training batches (up to ``--bare-steps``), and
   this process's CPU time over them (steadier than wall time on a machine that other work shares).
   Target <= 1.05.
3. **Time to the peer's accuracy.** The lab's improved config (`cli.py fit`, plus the timing callback) stops at
   the first epoch whose test accuracy reaches the peer's final one; the time from process start to that
   epoch's end (the callback's own test scoring left out) over the peer's whole-process time. Target <= 0.5.
4. **Where our time goes**: start-up, data and model setup, training batches, validation, figures, checkpoint
   writes, the test after fit, exit (``benchmarks/peers/timing.py``).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
PEERS = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


@dataclass
class Case:
    peer: str
    data: str  # under ../shared/data
    lab: str
    epochs: int
    peer_key: str  # quality in the peer's PEER_RESULT
    our_key: str  # the same in our summary.json "test"
    better: str  # "max" | "min"
    improved: str | None = None  # config for the time-to-accuracy race
    peer_args: tuple[str, ...] = ()


CASES = {
    "mnist_mlp": Case(
        "mnist_mlp.py", "mnist", "configs/labs/vision/mnist_mlp.yaml", 10, "test_acc", "test/acc", "max",
        improved="configs/labs/vision/mnist_mlp_improved.yaml",
    ),
    "cifar_smallcnn": Case(
        "cifar_smallcnn.py", "cifar10_jpg_subset/cifar10_train_first1000perclass.tar.gz",
        "configs/labs/vision/cifar_bn_augment.yaml", 10, "test_acc", "test/acc", "max",
        improved="configs/labs/vision/cifar_bn_augment_improved.yaml",
    ),
    "sentiment_lstm": Case(
        "sentiment_lstm.py", "rt_polarity", "configs/labs/text/sentiment_rnn.yaml", 8, "test_acc", "test/acc", "max",
        improved="configs/labs/text/sentiment_rnn_improved.yaml",
    ),
    "vae_mlp": Case(
        "vae_mlp.py", "mnist", "configs/labs/generative/vae.yaml", 20, "test_nelbo", "test/nelbo", "min"
    ),
    "temperature_rnn": Case(
        "temperature_rnn.py", "daily_min_temperatures", "configs/labs/series/temperature_rnn.yaml", 100,
        "test_rmse", "test/rmse", "min",
    ),
}  # fmt: skip


# --- processes ---------------------------------------------------------------------------------
def _env(threads: int) -> dict[str, str]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "WANDB_MODE": "offline",
        "DL_LABS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("DL_LABS_RUN_VERSION", None)
    return env


def run_process(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Start ``cmd``, wait, and return its wall time, peak RSS (MiB) and output."""
    t0 = time.time()
    env = {**env, "DL_LABS_BENCH_T0": repr(t0)}
    peak_kib = 0
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
            time.sleep(0.05)
    wall = time.time() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}); its output: {log}\n{text[-2000:]}")
    return {"wall": wall, "peak_mib": peak_kib / 1024, "output": text}


def _vm_hwm_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM). Not the ``ru_maxrss`` that wait4 reports: Linux carries
    that over from the parent's image across exec, so every child of this (large) runner would show its size."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_peer(case: Case, args: argparse.Namespace, epochs: int, tmp: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(PEERS / case.peer), "--data", str(args.data_root / case.data)]
    cmd += ["--epochs", str(epochs), "--threads", str(args.threads), *case.peer_args]
    res = run_process(cmd, _env(args.threads), tmp / "peer.log")
    line = [ln for ln in res["output"].splitlines() if ln.startswith("PEER_RESULT ")][-1]
    result = json.loads(line.split(" ", 1)[1])
    return {
        "wall": res["wall"],
        "loop": result["train_seconds"],
        "peak_mib": res["peak_mib"],
        "quality": result[case.peer_key],
    }


def run_ours(
    case: Case,
    args: argparse.Namespace,
    epochs: int | None,
    tmp: Path,
    config: str | None = None,
    target: float | None = None,
) -> dict[str, Any]:
    """``cli.py fit`` on the case's data; ``epochs`` None keeps the config's own (a schedule's length follows it)."""
    runs = Path(tempfile.mkdtemp(dir=tmp))
    timing = runs / "timing.json"
    cmd = [sys.executable, "cli.py", "fit", "--config", config or case.lab]
    cmd += ["--data.init_args.path", str(args.data_root / case.data)]
    cmd += ["--trainer.max_epochs", str(epochs)] if epochs is not None else []
    cmd += ["--runs_dir", str(runs), "--trainer.callbacks+=benchmarks.peers.timing.PhaseTimer"]
    cmd += ["--test_after_fit", "false" if target is not None else "true", *args.ours_args]
    cmd += args.race_args if target is not None else []
    env = {**_env(args.threads), "DL_LABS_BENCH_OUT": str(timing)}
    if target is not None:
        env["DL_LABS_BENCH_TARGET"] = repr(target)
    res = run_process(cmd, env, runs / "ours.log")
    t = json.loads(timing.read_text())
    summary = json.loads(next(runs.rglob("summary.json")).read_text())
    marks, sums = t["marks"], t["sums"]
    loop = marks["train_end"] - marks["train_start"]
    return {
        "wall": res["wall"],
        "loop": loop,
        "peak_mib": res["peak_mib"],
        "quality": summary.get("test", {}).get(case.our_key),
        "steps": t["steps"],
        "step_ms": 1000 * sums.get("train_batches", 0.0) / max(t["steps"], 1),
        "breakdown": _breakdown(res["wall"], marks, sums),
        "reached": t.get("reached"),
        "curve": t.get("curve"),
    }


def _breakdown(wall: float, m: dict[str, float], s: dict[str, float]) -> dict[str, float]:
    """Seconds per part; figure and checkpoint time is taken out of the phase it was spent in."""

    def spent(key: str, phase: str) -> float:
        return s.get(f"{key}_{phase}", 0.0)

    end = m.get("test_end", m["fit_end"])
    loop = m["train_end"] - m["train_start"]
    validation = s.get("validation", 0.0)
    return {
        "start-up (imports, config, data, objects)": m["setup_fit"],
        "model setup, sanity check": m["train_start"] - m["setup_fit"],
        "training batches": s.get("train_batches", 0.0),
        "validation": validation - spent("figures", "val") - spent("checkpoint_writes", "val"),
        "figures": sum(spent("figures", p) for p in ("start", "train", "val", "after")),
        "checkpoint writes": sum(spent("checkpoint_writes", p) for p in ("train", "val", "after")),
        "other epoch work (loggers, epoch ends)": loop
        - s.get("train_batches", 0.0)
        - validation
        - spent("figures", "train")
        - spent("checkpoint_writes", "train"),
        "after fit: best checkpoint + test": end
        - m["train_end"]
        - spent("figures", "after")
        - spent("checkpoint_writes", "after"),
        "exit": wall - end,
    }


# --- our cost over bare Lightning (same process, same loader, same step) ---------------------------
def bare_vs_ours(name: str, case: Case, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import lightning as L
    import torch
    from lightning.pytorch import Callback

    from benchmarks.bare_lightning import fit_bare
    from cli import VERSION_ENV, LabCLI
    from lab_modules.optim import make_optimizer

    torch.set_num_threads(args.threads)

    class BatchLoopTimer(Callback):
        """Wall and process CPU time of the training batches: first batch start to last batch end of each epoch,
        summed. CPU time is this process's own, so it holds up on a machine that other work shares."""

        def __init__(self, max_steps: int) -> None:
            self.seconds, self.cpu, self.max_steps = 0.0, 0.0, max_steps

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == 0:
                self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            last = batch_idx + 1 == trainer.num_training_batches or trainer.global_step >= self.max_steps
            if last:
                self.seconds += time.perf_counter() - self.start
                self.cpu += time.process_time() - self.cpu_start

    class Bare(L.LightningModule):
        """The step and nothing else: the same loss on the same net, no metrics, logs or callbacks."""

        def __init__(self, task: Any) -> None:
            super().__init__()
            self.task = task

        def training_step(self, batch: dict, batch_idx: int) -> Any:
            return _bare_loss(self.task, batch)

        def configure_optimizers(self) -> Any:
            return make_optimizer(self.task.optimizer, self.task.parameters())

    def build() -> Any:
        os.environ.pop(VERSION_ENV, None)
        argv = ["--config", str(ROOT / case.lab), "--data.init_args.path", str(args.data_root / case.data)]
        argv += ["--trainer.max_steps", str(args.bare_steps), "--trainer.max_epochs", "1000"]
        argv += ["--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0"]
        argv += ["--runs_dir", str(tmp / "bare_runs"), "--lab", name]
        return LabCLI(args=argv, run=False)

    ours_t, bare_t, ours_c, bare_c = [], [], [], []
    for r in range(args.repeats + 1):  # the first round warms caches and is dropped
        cli = build()
        task0 = copy.deepcopy(cli.model)
        timer = BatchLoopTimer(args.bare_steps)
        cli.trainer.callbacks.append(timer)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        steps = cli.trainer.global_step
        btimer = BatchLoopTimer(args.bare_steps)
        # stock Lightning, as a user's own LightningModule gets
        fit_bare(Bare(task0), cli.datamodule.train_dataloader(), [btimer], max_steps=args.bare_steps, max_epochs=1000)
        if r > 0:
            ours_t.append(timer.seconds)
            bare_t.append(btimer.seconds)
            ours_c.append(timer.cpu)
            bare_c.append(btimer.cpu)
    o, b = statistics.median(ours_t), statistics.median(bare_t)
    oc, bc = statistics.median(ours_c), statistics.median(bare_c)
    return {
        "steps": steps,
        "ours": o,
        "bare": b,
        "ratio": o / b,
        "ours_cpu": oc,
        "bare_cpu": bc,
        "cpu_ratio": oc / bc,
        "extra_cpu_ms_per_step": 1000 * (oc - bc) / max(steps, 1),
    }


def _bare_loss(task: Any, batch: dict) -> Any:
    kind = type(task).__name__
    if kind == "Classifier":
        target = batch[task.target_key]
        return task.loss_fn(task(**{k: v for k, v in batch.items() if k != task.target_key}), target)
    if kind == "VAE":
        recon, kl, _, _ = task.elbo_terms(batch["image"], 1)
        return recon + task.hparams.beta * kl
    if kind == "Regressor":
        pred = task.predict_scaled(batch)
        return task.loss_fn(pred, batch[task.target_key].reshape(pred.shape).to(pred.dtype))
    raise SystemExit(f"no bare step for task {kind}")


# --- report -------------------------------------------------------------------------------------
def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="alternating peer/ours pairs per case (median)")
    p.add_argument("--epochs-scale", type=float, default=1.0, help="scale every recipe's epochs (quick checks)")
    p.add_argument("--bare-steps", type=int, default=400)
    p.add_argument("--skip", default="", help="comma list of parts to skip: whole,bare,race")
    p.add_argument("--data-root", type=Path, default=SHARED)
    p.add_argument("--ours-args", nargs=argparse.REMAINDER, default=[], help="extra cli.py arguments (last)")
    p.add_argument(
        "--race-args",
        type=shlex.split,
        default=[],
        help='extra cli.py arguments for the race runs only, one string: --race-args="--a 1 --b 2"',
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    names = args.cases.split(",")
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name in names:
            case = CASES[name]
            epochs = max(1, math.ceil(case.epochs * args.epochs_scale))
            row: dict[str, Any] = {"epochs": epochs}
            if not skip >= {"whole", "race"}:
                peer, ours = [], []
                for _ in range(args.repeats):
                    peer.append(run_peer(case, args, epochs, tmp))
                    ours.append(run_ours(case, args, epochs, tmp))
                    print(f"{name}: peer {peer[-1]['wall']:.1f} s, ours {ours[-1]['wall']:.1f} s", flush=True)
                row["peer"] = _median_run(peer)
                row["ours"] = _median_run(ours)
            if "bare" not in skip:
                row["bare"] = bare_vs_ours(name, case, args, tmp)
                print(f"{name}: bare {row['bare']}", flush=True)
            if "race" not in skip and case.improved and "peer" in row:
                race = run_ours(case, args, None, tmp, config=case.improved, target=row["peer"]["quality"])
                row["race"] = {k: race[k] for k in ("reached", "curve", "wall")}
                print(f"{name}: race {row['race']['reached']}", flush=True)
            rows[name] = row
    report(rows, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median whole-process wall time (its own loop, memory, quality and breakdown)."""
    return sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]


CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_line() -> str:
    """The CPU model, the flags that decide which kernels torch picks (AVX2, AVX-512, its bf16, AMX) and the
    core count, so tables from different machines can be told apart."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    have = [flag for flag in CPU_FLAGS if flag in flags] or ["none of " + "/".join(CPU_FLAGS)]
    return f"{model}, {os.cpu_count()} cores, flags: {' '.join(have)}"


def report(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    import torch

    print(
        f"\ntorch {torch.__version__}, CPU, {args.threads} threads, data {args.data_root}, "
        f"{args.repeats} alternating pair(s) per case (median)\n{cpu_line()}\n"
    )
    if any("peer" in r for r in rows.values()):
        print("### Whole process: report recipe, `cli.py fit --test_after_fit true` vs the peer script\n")
        print(
            "| case | epochs x steps | our step (ms) | peer (s) | ours (s) | ratio | target | | "
            "loop peer / ours (s) | loop ratio | peak MiB peer / ours | quality peer / ours |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        if "peer" not in r:
            continue
        pe, ou = r["peer"], r["ours"]
        ratio = ou["wall"] / pe["wall"]
        limit = 1.25 if name == "mnist_mlp" else (1.05 if ou["step_ms"] >= 20 else None)
        target = f"<= {limit:.2f}" if limit else "-"
        print(
            f"| {name} | {r['epochs']} x {ou['steps'] // max(r['epochs'], 1)} | {ou['step_ms']:.1f} | "
            f"{pe['wall']:.1f} | {ou['wall']:.1f} | {ratio:.2f} | {target} | "
            f"{_met(None if limit is None else ratio <= limit)} | {pe['loop']:.1f} / {ou['loop']:.1f} | "
            f"{ou['loop'] / pe['loop']:.2f} | {pe['peak_mib']:.0f} / {ou['peak_mib']:.0f} | "
            f"{pe['quality']:.4f} / {ou['quality']:.4f} |"
        )
    if any("bare" in r for r in rows.values()):
        print("\n### Our cost over bare Lightning: same net, loss, optimizer and loader; training batches only\n")
        print(
            "| case | steps | bare Lightning (s) | ours (s) | ratio | target <= 1.05 | "
            "CPU s bare / ours | CPU ratio | our extra CPU ms / step |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, r in rows.items():
            if "bare" in r:
                b = r["bare"]
                print(
                    f"| {name} | {b['steps']} | {b['bare']:.2f} | {b['ours']:.2f} | {b['ratio']:.3f} | "
                    f"{_met(b['ratio'] <= 1.05)} | {b['bare_cpu']:.2f} / {b['ours_cpu']:.2f} | "
                    f"{b['cpu_ratio']:.3f} | {b['extra_cpu_ms_per_step']:.2f} |"
                )
    if any("race" in r for r in rows.values()):
        print("\n### Time to the peer's final test accuracy with the lab's improved config\n")
        print("| case | peer accuracy | peer whole process (s) | improved config reaches it at (s) | epoch | ratio "
              "| target <= 0.5 |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for name, r in rows.items():
            if "race" not in r:
                continue
            reached, peer = r["race"]["reached"], r["peer"]
            epoch = next((c["epoch"] for c in r["race"]["curve"] if c["seconds"] == reached), None)
            if reached is None:
                best = max(c["test_acc"] for c in r["race"]["curve"])
                print(f"| {name} | {peer['quality']:.4f} | {peer['wall']:.1f} | not reached (best {best:.4f}) | | | "
                      "NOT met |")  # fmt: skip
            else:
                ratio = reached / peer["wall"]
                print(
                    f"| {name} | {peer['quality']:.4f} | {peer['wall']:.1f} | {reached:.1f} | {epoch} | "
                    f"{ratio:.2f} | {_met(ratio <= 0.5)} |"
                )
    whole = {n: r for n, r in rows.items() if "ours" in r}
    if whole:
        print("\n### Where the time of `cli.py fit --test_after_fit true` goes (s)\n")
        parts = list(next(iter(whole.values()))["ours"]["breakdown"])
        print("| part | " + " | ".join(whole) + " |")
        print("|---|" + "---|" * len(whole))
        for part in parts:
            print(f"| {part} | " + " | ".join(f"{r['ours']['breakdown'][part]:.2f}" for r in whole.values()) + " |")
        print("| **whole process** | " + " | ".join(f"{r['ours']['wall']:.2f}" for r in whole.values()) + " |")
        print("| peer: whole process | " + " | ".join(f"{r['peer']['wall']:.2f}" for r in whole.values()) + " |")
        print("| peer: training loop | " + " | ".join(f"{r['peer']['loop']:.2f}" for r in whole.values()) + " |")


if __name__ == "__main__":
    main()
