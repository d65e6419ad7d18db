"""Results table of the vision classification labs, on the real data, through the lab CLI.

    python benchmarks/vision_results.py                      # every vision lab, full recipes (GPU: hours)
    python benchmarks/vision_results.py --only mnist_cnn,gd_variants --out runs/bench
    python benchmarks/vision_results.py --quick              # tiny limits: checks that everything runs

Each lab runs as ``cli.py fit --test_after_fit true`` (one lab config) or ``cli.py compare SPEC``
(variants of one config), with ``--trainer.accelerator auto`` and the real data:
MNIST from ``<data-root>/mnist`` (60k/10k IDX files), CIFAR-10 from the 10k JPEG subset
``<data-root>/cifar10_jpg_subset/cifar10_train_first1000perclass.tar.gz`` (the datamodule holds
out a seeded 20% test split). Every run's files stay under ``--out``; the table
(lab, variant, our metric, the report's number, the command) is printed and written to
``<out>/vision_results.md`` (and ``.json``). Numbers are read from each run's ``summary.json`` /
``metrics.csv``; nothing is typed in except the reports' numbers.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands.compare import run_dirs  # noqa: E402
from commands.run_report import markdown_table, read_metrics, read_summary  # noqa: E402

LABS_DIR = "configs/labs/vision"
QUICK = [
    "--trainer.max_epochs",
    "2",
    "--trainer.limit_train_batches",
    "2",
    "--trainer.limit_val_batches",
    "1",
    "--trainer.limit_test_batches",
    "1",
    "--trainer.num_sanity_val_steps",
    "0",
    "--data.init_args.eval_batch_size",
    "50",
]


@dataclass
class Lab:
    name: str
    data: str  # mnist | cifar
    configs: dict[str, str] = field(default_factory=dict)  # variant -> lab config (one fit each)
    spec: str | None = None  # compare spec (variants of one config)
    reported: dict[str, str] = field(default_factory=dict)  # variant -> the report's number
    metric: str = "test/acc"


LABS = [
    Lab(
        "mnist_mlp",
        "mnist",
        configs={"report": "mnist_mlp", "improved": "mnist_mlp_improved", "theory": "mnist_mlp_theory"},
        reported={"report": "test acc 97.75%", "improved": "target >= 98.0%", "theory": "(not run in the report)"},
    ),
    Lab(
        "mnist_cnn",
        "mnist",
        configs={"report": "mnist_cnn", "improved": "mnist_cnn_improved"},
        reported={"report": "test acc 98.02%", "improved": "target >= 99.0%"},
    ),
    Lab(
        "gd_variants",
        "mnist",
        spec="configs/compare/gd_variants.yaml",
        metric="train/acc",
        reported={"full_batch": "train acc 25.48%", "minibatch_64": "train acc 99.12%", "batch_1": "train acc 10.41%"},
    ),
    Lab(
        "cifar_optimizers",
        "cifar",
        spec="configs/compare/cifar_optimizers.yaml",
        reported={"SGD": "test acc 48.65%", "Adam": "test acc 70.15%", "RMSprop": "test acc 68.68%"},
    ),
    Lab(
        "cifar_bn_augment",
        "cifar",
        spec="configs/compare/cifar_bn_augment.yaml",
        reported={
            "baseline": "test acc 72.87%",
            "bn": "(not run)",
            "augment": "(not run)",
            "bn_augment": "test acc 76.92%",
        },
    ),
    Lab(
        "cifar_vgg_resnet",
        "cifar",
        spec="configs/compare/cifar_vgg_resnet.yaml",
        reported={"SimpleCNN": "test acc 52.01%", "VGG16": "test acc 63.73%", "ResNet18": "test acc 64.74%"},
    ),
    Lab(
        "cifar_vgg_resnet_improved",
        "cifar",
        spec="configs/compare/cifar_vgg_resnet_improved.yaml",
        reported={"SimpleCNN": "(improved recipe)", "VGG16": "(improved recipe)", "ResNet18": "(improved recipe)"},
    ),
    Lab("feature_maps", "cifar", configs={"LeNet": "feature_maps"}, reported={"LeNet": "none (figures only)"}),
    Lab(
        "early_stopping",
        "cifar",
        configs={"cat_vs_dog": "early_stopping"},
        metric="val/loss",
        reported={"cat_vs_dog": "best val loss 0.5434 at epoch 3 (real cats vs dogs)"},
    ),
    Lab(
        "transfer_learning",
        "cifar",
        reported={
            "scratch": "-",
            "head_only": "92.01% (flowers, ImageNet; printed twice)",
            "fine_tuned": "92.01% (flowers, ImageNet; printed twice)",
        },
    ),
]


def data_args(kind: str, data_root: Path) -> list[str]:
    if kind == "mnist":
        return ["--data.init_args.path", str(data_root / "mnist")]
    return ["--data.init_args.path", str(data_root / "cifar10_jpg_subset" / "cifar10_train_first1000perclass.tar.gz")]


def run(cmd: list[str], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[bench] {shlex.join(cmd)}", flush=True)
    with open(log, "w") as f:
        rc = subprocess.call([sys.executable, *cmd], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if rc:
        print(
            f"[bench] FAILED (exit {rc}), see {log}: " + " | ".join(log.read_text().strip().splitlines()[-2:]),
            flush=True,
        )
    return rc


def fit_cmd(config: str, extra: list[str], out: Path, name: str) -> list[str]:
    return [
        "cli.py",
        "fit",
        "--config",
        f"{LABS_DIR}/{config}.yaml",
        *extra,
        "--test_after_fit",
        "true",
        "--trainer.enable_progress_bar",
        "false",
        "--runs_dir",
        str(out),
        "--lab",
        name,
    ]


def pct(v) -> str:
    return "-" if v is None else f"{100 * float(v):.2f}%"


def result(run_dir: Path, metric: str) -> tuple[str, dict]:
    """The row's 'our metric' text from a finished run directory."""
    s, m = read_summary(run_dir), read_metrics(run_dir)
    test = s.get("test", {})
    info = {"fit_seconds": s.get("fit_seconds"), "epochs": s.get("epochs"), "test": test, "phases": s.get("phases")}
    if not s:
        return "FAILED (no summary.json)", info
    if metric == "train/acc":
        train = m.get("train/acc", [])
        return f"train acc {pct(train[-1][1] if train else None)} (test {pct(test.get('test/acc'))})", info
    if metric == "val/loss":
        val = m.get("val/loss", [])
        best_epoch, best = min(val, key=lambda p: p[1]) if val else (None, None)
        best_txt = f"{best:.4f} at epoch {best_epoch + 1}" if best is not None else "-"
        return (
            f"best val loss {best_txt}, stopped after {s.get('epochs')} epochs; best checkpoint test acc "
            f"{pct(test.get('test/acc'))}"
        ), info
    return f"test acc {pct(test.get('test/acc'))}", info


def bench_lab(lab: Lab, args, extra: list[str], out: Path) -> tuple[list[dict], int]:
    rows, failed = [], 0
    lab_out = out / lab.name
    shown_extra = [a.replace(str(args.data_root_abs), os.path.relpath(args.data_root_abs, ROOT)) for a in extra]
    if lab.name == "transfer_learning":
        return bench_transfer(lab, args, extra, lab_out)
    if lab.configs:
        for variant, config in lab.configs.items():
            cmd = fit_cmd(config, extra, lab_out, variant)
            failed += run(cmd, lab_out / f"{variant}.log") != 0
            text, info = result(lab_out / variant / "version_0", lab.metric)
            command = shlex.join(
                [
                    "python",
                    "cli.py",
                    "fit",
                    "--config",
                    f"{LABS_DIR}/{config}.yaml",
                    *shown_extra,
                    "--test_after_fit",
                    "true",
                ]
            )
            rows.append(
                {
                    "lab": lab.name,
                    "variant": variant,
                    "ours": text,
                    "report": lab.reported.get(variant, ""),
                    "command": command,
                    **info,
                }
            )
        return rows, failed
    # compare spec; gd_variants' batch-1 variant may be capped (810k optimizer steps otherwise)
    groups = [(None, [])]
    if lab.name == "gd_variants" and args.bs1_batches and not args.quick:
        groups = [
            ("full_batch,minibatch_64", []),
            ("batch_1", ["--trainer.limit_train_batches", str(args.bs1_batches)]),
        ]
    for only, more in groups:
        cmp_out = lab_out if only is None or "," in only else lab_out.with_name(f"{lab.name}_{only}")
        cmd = (
            ["cli.py", "compare", lab.spec, "--out", str(cmp_out)]
            + (["--only", only] if only else [])
            + ["--", *extra, *more]
        )
        failed += run(cmd, cmp_out / "compare.log") != 0
        variants = only.split(",") if only else list(lab.reported)
        created = run_dirs(cmp_out)  # the directories this compare run wrote (not an older run's)
        for variant in variants:
            text, info = result(created.get(variant, cmp_out / variant / "missing"), lab.metric)
            note = f" ({args.bs1_batches} batches/epoch)" if more else ""
            command = shlex.join(
                ["python", "cli.py", "compare", lab.spec, "--only", variant, "--", *shown_extra, *more]
            )
            rows.append(
                {
                    "lab": lab.name,
                    "variant": variant + note,
                    "ours": text,
                    "report": lab.reported.get(variant, ""),
                    "command": command,
                    **info,
                }
            )
    return rows, failed


def bench_transfer(lab: Lab, args, extra: list[str], out: Path) -> tuple[list[dict], int]:
    """Pretrain on classes 0-4, then scratch vs transfer (head only, then fine-tuned) on classes 5-9."""
    quick_phases = ["--trainer.callbacks.init_args.head_epochs", "1"] if args.quick else []
    shown = shlex.join(
        [a.replace(str(args.data_root_abs), os.path.relpath(args.data_root_abs, ROOT)) for a in [*extra, *quick_phases]]
    )
    failed = run(fit_cmd("transfer_pretrain", extra, out, "pretrain"), out / "pretrain.log") != 0
    pre_text, pre_info = result(out / "pretrain" / "version_0", "test/acc")
    ckpts = sorted(glob.glob(str(out / "pretrain" / "version_0" / "checkpoints" / "best-*.ckpt")))
    rows = [
        {
            "lab": lab.name,
            "variant": "pretrain (classes 0-4)",
            "ours": pre_text,
            "report": "-",
            "command": f"python cli.py fit --config configs/labs/vision/transfer_pretrain.yaml {shown} "
            "--test_after_fit true",
            **pre_info,
        }
    ]
    if not ckpts:
        return rows, failed + 1
    net = "--model.init_args.net.init_args."
    variants = {
        "scratch": f"{net}weights=null --trainer.callbacks.init_args.freeze=false",
        "transfer": f"{net}weights={ckpts[-1]}",
    }
    cmd = ["cli.py", "compare", "--config", f"{LABS_DIR}/transfer_learning.yaml", "--out", str(out / "compare")]
    for name, overrides in variants.items():
        cmd += ["--variant", f"{name}={overrides}"]
    cmd += ["--", *extra, *quick_phases]
    failed += run(cmd, out / "compare.log") != 0
    created = run_dirs(out / "compare")
    for variant, run_name, phase, label in (
        ("scratch", "scratch", "phase2", "scratch (all layers, same epochs)"),
        ("head_only", "transfer", "phase1", "head only (phase 1)"),
        ("fine_tuned", "transfer", "phase2", "fine-tuned layer3+4 (phase 2)"),
    ):
        run_dir = created.get(run_name, out / "compare" / run_name / "missing")
        _, info = result(run_dir, "test/acc")
        ph = (info.get("phases") or {}).get(phase, {})
        text = (
            f"test acc {pct(ph.get('test_acc'))} after {ph.get('epochs_done')} epochs, {ph.get('seconds')} s"
            if ph
            else "FAILED (no phase result)"
        )
        if variant != "head_only":
            text += f"; best checkpoint {pct(info['test'].get('test/acc'))}"
        rows.append(
            {
                "lab": lab.name,
                "variant": label,
                "ours": text,
                "report": lab.reported[variant],
                "command": f"python cli.py compare --config configs/labs/vision/transfer_learning.yaml "
                f"--variant {shlex.quote(run_name + '=' + variants[run_name])} -- {shown}",
                **info,
            }
        )
    return rows, failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=None, help="comma-separated labs: " + ",".join(lab.name for lab in LABS))
    p.add_argument("--quick", action="store_true", help="tiny limits (2 epochs of 2 batches): checks that it all runs")
    p.add_argument("--out", default=None, help="output folder (default runs/benchmarks/vision[_quick]/<time>)")
    p.add_argument(
        "--data-root", default=str(ROOT.parent / "shared" / "data"), help="folder with mnist/ and cifar10_jpg_subset/"
    )
    p.add_argument(
        "--bs1-batches",
        type=int,
        default=10000,
        help="gd_variants batch-1 run: batches per epoch (0 = all 54k, i.e. 810k steps)",
    )
    args = p.parse_args(argv)
    labs = LABS
    if args.only:
        names = args.only.split(",")
        unknown = set(names) - {lab.name for lab in LABS}
        if unknown:
            p.error(f"unknown labs {sorted(unknown)}; choose from {[lab.name for lab in LABS]}")
        labs = [lab for lab in LABS if lab.name in names]
    data_root = args.data_root_abs = Path(args.data_root).resolve()
    out = (
        Path(args.out)
        if args.out
        else ROOT
        / "runs"
        / "benchmarks"
        / ("vision_quick" if args.quick else "vision")
        / time.strftime("%Y%m%d-%H%M%S")
    )
    out = out.resolve()
    rows, failed, start = [], 0, time.perf_counter()
    for lab in labs:
        extra = data_args(lab.data, data_root) + ["--trainer.accelerator", "auto"] + (QUICK if args.quick else [])
        lab_rows, lab_failed = bench_lab(lab, args, extra, out)
        rows += lab_rows
        failed += lab_failed
    shown = [
        {
            "lab": r["lab"],
            "variant": r["variant"],
            "our metric": r["ours"],
            "report's number": r["report"],
            "fit time (s)": "" if r.get("fit_seconds") is None else f"{r['fit_seconds']:.0f}",
            "command": f"`{r['command']}`",
        }
        for r in rows
    ]
    table = markdown_table(shown, ["lab", "variant", "our metric", "report's number", "fit time (s)", "command"])
    head = (
        f"# Vision classification results{' (QUICK: tiny limits, numbers mean nothing)' if args.quick else ''}\n\n"
        f"`python benchmarks/vision_results.py {shlex.join(argv if argv is not None else sys.argv[1:])}` "
        f"({time.perf_counter() - start:.0f} s; data {data_root}; run files under {out})\n\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "vision_results.md").write_text(head + table + "\n")
    (out / "vision_results.json").write_text(json.dumps(rows, indent=2, default=str))
    print(table)
    print(f"[bench] wrote {out / 'vision_results.md'}" + (f"; {failed} run(s) FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
