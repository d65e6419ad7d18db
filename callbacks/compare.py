"""``python cli.py compare``: run variants of a lab through the same CLI and compare them.

    python cli.py compare configs/compare/cifar_vgg_resnet.yaml [-- --trainer.max_epochs 2]
    python cli.py compare --config configs/labs/vision/mnist_mlp.yaml \\
        --variant adam="--model.init_args.optimizer=torch.optim.Adam" \\
        --variant sgd="--model.init_args.optimizer=torch.optim.SGD --model.init_args.optimizer.lr=0.01"

Each variant is ``cli.py fit --test_after_fit true`` in its own process and run directory
(``<out>/<variant>/version_0``); afterwards ``comparison.md`` (the table) and ``curves.png``
(overlaid curves) are written to ``<out>``. Arguments after ``--`` go to every variant.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

from callbacks.run_report import markdown_table, overlay_curves, read_metrics, read_summary

CLI = Path(__file__).resolve().parent.parent / "cli.py"


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="cli.py compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", help="YAML: name, configs, args, variants {name: [args]}, curves")
    p.add_argument("--config", action="append", default=[], help="lab config (when no spec file)")
    p.add_argument("--variant", action="append", default=[], help='NAME="overrides" (repeatable)')
    p.add_argument("--only", default=None, help="comma-separated subset of variant names")
    p.add_argument("--out", default=None, help="output folder (default runs/compare/<name>/<time>)")
    p.add_argument("--metric", default=None, help="metric that ranks the table (default: test/acc or test/loss)")
    return p.parse_args(argv), extra


def load_spec(args: argparse.Namespace) -> dict:
    if args.spec:
        spec = yaml.safe_load(Path(args.spec).read_text())
        spec.setdefault("name", Path(args.spec).stem)
    else:
        if not args.config or not args.variant:
            raise SystemExit("error: give a spec file, or --config plus at least one --variant NAME=\"overrides\"")
        spec = {"name": Path(args.config[-1]).stem, "configs": args.config,
                "variants": {v.split("=", 1)[0]: shlex.split(v.split("=", 1)[1] if "=" in v else "")
                             for v in args.variant}}
    spec.setdefault("args", [])
    spec.setdefault("curves", ["train/loss", "val/loss", "val/acc"])
    variants = spec.get("variants") or {}
    if args.only:
        keep = args.only.split(",")
        unknown = set(keep) - set(variants)
        if unknown:
            raise SystemExit(f"error: unknown variants {sorted(unknown)}; the spec has {sorted(variants)}")
        variants = {k: v for k, v in variants.items() if k in keep}
    spec["variants"] = {k: [str(a) for a in (v or [])] for k, v in variants.items()}
    return spec


def run_variant(spec: dict, name: str, overrides: list[str], extra: list[str], out: Path) -> tuple[Path, float, int]:
    cmd = [sys.executable, str(CLI), "fit"]
    for c in spec["configs"]:
        cmd += ["--config", str(c)]
    cmd += [str(a) for a in spec["args"]] + overrides + extra
    cmd += ["--runs_dir", str(out), "--lab", name, "--test_after_fit", "true", "--trainer.enable_progress_bar", "false"]
    env = {k: v for k, v in os.environ.items() if k != "DL_LABS_RUN_VERSION"}
    log = out / f"{name}.log"
    out.mkdir(parents=True, exist_ok=True)
    print(f"[compare] {name}: {shlex.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - start
    if rc != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        print(f"[compare] {name} FAILED (exit {rc}); see {log}: " + " | ".join(tail), flush=True)
    return out / name / "version_0", seconds, rc


def main(argv: list[str]) -> int:
    args, extra = _parse(argv)
    spec = load_spec(args)
    out = Path(args.out) if args.out else Path("runs/compare") / spec["name"] / time.strftime("%Y%m%d-%H%M%S")
    runs, rows, failed = {}, [], 0
    for name, overrides in spec["variants"].items():
        run_dir, seconds, rc = run_variant(spec, name, overrides, extra, out)
        failed += rc != 0
        summary = read_summary(run_dir)
        test = summary.get("test", {})
        metrics = read_metrics(run_dir)
        row = {"variant": name, "params": summary.get("params"), "epochs": summary.get("epochs"),
               "fit time (s)": summary.get("fit_seconds"), "wall time (s)": round(seconds, 1)}
        if "val/acc" in metrics:
            row["best val/acc"] = max(v for _, v in metrics["val/acc"])
        if "train/acc" in metrics:
            row["final train/acc"] = metrics["train/acc"][-1][1]
        row.update({k: float(v) for k, v in test.items()})
        rows.append(row)
        runs[name] = run_dir
        print(f"[compare] {name}: " + ", ".join(f"{k}={v:.4f}" for k, v in test.items()) + f" ({seconds:.0f}s)", flush=True)
    rank = args.metric or spec.get("metric") or ("test/acc" if any("test/acc" in r for r in rows) else "test/loss")
    columns = ["variant"] + sorted({k for r in rows for k in r} - {"variant", "params", "epochs", "fit time (s)", "wall time (s)"},
                                   key=lambda k: (k != rank, k)) + ["params", "epochs", "fit time (s)", "wall time (s)"]
    table = markdown_table(rows, columns)
    command = "python cli.py compare " + shlex.join(argv)
    (out / "comparison.md").write_text(f"# {spec['name']}\n\n`{command}`\n\n{table}\n")
    overlay_curves(runs, spec["curves"], out / "curves.png", title=spec["name"])
    print(table)
    print(f"[compare] wrote {out / 'comparison.md'} and {out / 'curves.png'}")
    return 1 if failed else 0
