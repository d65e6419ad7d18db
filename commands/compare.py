"""``python cli.py compare``: run variants of a lab through the same CLI and compare them.

    python cli.py compare configs/compare/cifar_vgg_resnet.yaml [-- --trainer.max_epochs 2]
    python cli.py compare --config configs/labs/vision/mnist_mlp.yaml \\
        --variant adam="--model.init_args.optimizer=torch.optim.Adam" \\
        --variant sgd="--model.init_args.optimizer=torch.optim.SGD --model.init_args.optimizer.lr=0.01"

Each variant is ``cli.py fit --test_after_fit true`` in its own process and in a run directory of
its own, new for every invocation (``<out>/<variant>/version_N``; ``<out>/runs.json`` says which),
so a rerun into the same ``--out`` never tabulates an older run. A variant whose process fails is
marked FAILED and shows no metrics. Afterwards ``comparison.md`` (the table) and ``curves.png``
(overlaid curves) are written to ``<out>``. Arguments after ``--`` go to every variant.

The table is ranked by VALIDATION, never by test: by default by the best value of the task's
monitored validation metric (``monitor`` / ``best_score`` in each run's ``summary.json``, the
score of the best checkpoint), or by the best epoch value of ``--metric``. Test metrics are shown
beside it and rank nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

from commands.run_report import best_value, markdown_table, metric_mode, overlay_curves, read_metrics, read_summary

TAIL_COLUMNS = ["params", "epochs", "fit time (s)", "wall time (s)"]


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        prog="cli.py compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("spec", nargs="?", help="YAML: name, configs, args, variants {name: [args]}, curves, metric")
    p.add_argument("--config", action="append", default=[], help="lab config (when no spec file)")
    p.add_argument("--variant", action="append", default=[], help='NAME="overrides" (repeatable)')
    p.add_argument("--only", default=None, help="comma-separated subset of variant names")
    p.add_argument("--out", default=None, help="output folder (default runs/compare/<name>/<time>)")
    p.add_argument(
        "--metric",
        default=None,
        help="validation (or train) metric whose best epoch value ranks the table "
        "(default: the task's monitored metric, as its best checkpoint scored it)",
    )
    p.add_argument(
        "--mode",
        choices=["min", "max"],
        default=None,
        help="whether lower or higher --metric is better (default: the checkpoint's mode, else by name)",
    )
    return p.parse_args(argv), extra


def load_spec(args: argparse.Namespace) -> dict:
    if args.spec:
        path = Path(args.spec)
        if not path.is_file():
            raise SystemExit(
                f"error: no compare spec at {path}; pass an existing spec YAML (see configs/compare/), "
                'or --config LAB.yaml with --variant NAME="overrides"'
            )
        try:
            spec = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SystemExit(f"error: {path}: YAML syntax error{where}; fix the spec file") from None
        if not isinstance(spec, dict) or not spec.get("variants"):
            raise SystemExit(f"error: {path}: no variants; a spec needs configs and variants {{name: [overrides]}}")
        spec.setdefault("name", path.stem)
    else:
        if not args.config or not args.variant:
            raise SystemExit('error: give a spec file, or --config plus at least one --variant NAME="overrides"')
        spec = {
            "name": Path(args.config[-1]).stem,
            "configs": args.config,
            "variants": {v.split("=", 1)[0]: shlex.split(v.split("=", 1)[1] if "=" in v else "") for v in args.variant},
        }
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


def claim_run_dir(out: Path, name: str) -> Path:
    """A new ``<out>/<name>/version_N`` (mkdir is atomic: never one an earlier or parallel run has)."""
    root = out / name
    root.mkdir(parents=True, exist_ok=True)
    taken = [
        int(p.name.removeprefix("version_"))
        for p in root.glob("version_*")
        if p.name.removeprefix("version_").isdigit()
    ]
    n = max(taken, default=-1) + 1
    while True:
        try:
            (root / f"version_{n}").mkdir()
            return root / f"version_{n}"
        except FileExistsError:
            n += 1


def run_variant(spec: dict, name: str, overrides: list[str], extra: list[str], out: Path) -> tuple[Path, float, int]:
    """Runs one variant in a fresh run directory; returns that directory, the wall time and the exit code."""
    cmd = [sys.executable, "-m", "cli", "fit"]  # the installed (or working-tree) cli module, found by name
    for c in spec["configs"]:
        cmd += ["--config", str(c)]
    cmd += [str(a) for a in spec["args"]] + overrides + extra
    run_dir = claim_run_dir(out, name)
    cmd += [
        "--runs_dir",
        str(out),
        "--lab",
        name,
        "--run_version",
        run_dir.name,
        "--test_after_fit",
        "true",
        "--trainer.enable_progress_bar",
        "false",
    ]
    env = {k: v for k, v in os.environ.items() if k != "DL_LABS_RUN_VERSION"}
    env["DL_LABS_WANDB_GROUP"] = spec["name"]  # the variants are one W&B group (runtime/wandb_run.py)
    log = out / f"{name}.log"
    print(f"[compare] {name}: {shlex.join(cmd[1:])} (run files: {run_dir})", flush=True)
    start = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - start
    if rc != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        print(f"[compare] {name} FAILED (exit {rc}); see {log}: " + " | ".join(tail), flush=True)
    return run_dir, seconds, rc


def ranking_metric(runs: dict[str, Path], metric: str | None) -> str | None:
    """``metric`` if given (a test metric is refused), else the monitored validation metric of the
    runs (the most common one, should variants differ), else None (nothing to rank by)."""
    if metric is not None:
        if metric.startswith("test/"):
            raise SystemExit(
                f"error: --metric {metric}: test metrics never rank (choosing on the test set leaks it); "
                f"pass a validation metric such as {metric.replace('test/', 'val/', 1)}"
            )
        return metric
    monitors = Counter(m for d in runs.values() if (m := read_summary(d).get("monitor")))
    return monitors.most_common(1)[0][0] if monitors else None


def rank_score(run_dir: Path, metric: str, mode: str) -> float | None:
    """The run's best ``metric``: its best checkpoint's score when that checkpoint monitored
    ``metric``, else the best epoch value in ``metrics.csv``."""
    summary = read_summary(run_dir)
    if summary.get("monitor") == metric and summary.get("best_score") is not None:
        return float(summary["best_score"])
    return best_value(read_metrics(run_dir).get(metric, []), mode)


def rank_rows(
    rows: list[dict], runs: dict[str, Path], metric: str | None, mode: str | None
) -> tuple[str | None, str | None]:
    """Sorts ``rows`` in place (best first; unranked, then FAILED last), filling ``rank`` and the
    ranking column ``best <metric>``. Returns the ranking metric and its mode (None: unranked)."""
    ok = {r["variant"]: runs[r["variant"]] for r in rows if r["status"] == "ok"}
    metric = ranking_metric(ok, metric)
    if metric is None:
        return None, None
    if mode is None:
        modes = Counter(metric_mode(metric, d) for d in ok.values())
        mode = modes.most_common(1)[0][0] if modes else metric_mode(metric)
    column = f"best {metric}"
    for r in rows:
        r[column] = rank_score(ok[r["variant"]], metric, mode) if r["variant"] in ok else None

    def key(r: dict) -> tuple:
        value = r[column]
        if value is None:
            return (1 if r["status"] == "ok" else 2, 0.0)
        return (0, value if mode == "min" else -value)

    rows.sort(key=key)
    for i, r in enumerate(x for x in rows if x[column] is not None):
        r["rank"] = i + 1
    return metric, mode


def result_row(name: str, run_dir: Path, seconds: float, rc: int) -> dict:
    """The table row of one variant: a FAILED one shows no metrics (its files may be partial)."""
    row = {"variant": name, "status": "ok" if rc == 0 else f"FAILED (exit {rc})", "wall time (s)": round(seconds, 1)}
    if rc != 0:
        return row
    summary = read_summary(run_dir)
    if not summary:
        row["status"] = "no summary.json"
        return row
    metrics = read_metrics(run_dir)
    row.update(
        {"params": summary.get("params"), "epochs": summary.get("epochs"), "fit time (s)": summary.get("fit_seconds")}
    )
    if "val/acc" in metrics:
        row["best val/acc"] = max(v for _, v in metrics["val/acc"])
    if "train/acc" in metrics:
        row["final train/acc"] = metrics["train/acc"][-1][1]
    row.update({k: float(v) for k, v in (summary.get("test") or {}).items()})
    return row


def comparison(
    rows: list[dict], runs: dict[str, Path], metric: str | None = None, mode: str | None = None
) -> tuple[str, str]:
    """Ranks ``rows`` (see ``rank_rows``) and returns ``(sentence saying what ranked them, markdown table)``."""
    metric, mode = rank_rows(rows, runs, metric, mode)
    if metric is None:
        why = (
            "the runs monitor no validation metric; pass --metric val/<name> to rank them"
            if any(r["status"] == "ok" for r in rows)
            else "no variant finished"
        )
        how = f"Not ranked: {why}. Test metrics are shown, never ranked."
        first = ["variant", "status"]
    else:
        better = "lower" if mode == "min" else "higher"
        how = (
            f"Ranked by `best {metric}` ({better} is better; the best checkpoint's score where it monitors "
            f"{metric}, else the best epoch). Test metrics are shown, never ranked."
        )
        first = ["rank", "variant", "status", f"best {metric}"]
    rest = sorted(
        {k for r in rows for k in r} - set(first) - set(TAIL_COLUMNS) - {"rank"},
        key=lambda k: (k.startswith("test/"), k),
    )
    return how, markdown_table(rows, first + rest + TAIL_COLUMNS)


def main(argv: list[str]) -> int:
    args, extra = _parse(argv)
    spec = load_spec(args)
    if args.metric:
        ranking_metric({}, args.metric)  # refuse a test metric before anything runs
    out = Path(args.out) if args.out else Path("runs/compare") / spec["name"] / time.strftime("%Y%m%d-%H%M%S")
    runs, rows, failed = {}, [], 0
    for name, overrides in spec["variants"].items():
        run_dir, seconds, rc = run_variant(spec, name, overrides, extra, out)
        failed += rc != 0
        runs[name] = run_dir
        row = result_row(name, run_dir, seconds, rc)
        rows.append(row)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in row.items() if k.startswith("test/"))
        print(f"[compare] {name}: {row['status']} {shown} ({seconds:.0f}s)", flush=True)
    (out / "runs.json").write_text(
        json.dumps({r["variant"]: {"run_dir": str(runs[r["variant"]]), "status": r["status"]} for r in rows}, indent=2)
    )
    how, table = comparison(rows, runs, args.metric or spec.get("metric"), args.mode or spec.get("mode"))
    command = "python cli.py compare " + shlex.join(argv)
    (out / "comparison.md").write_text(f"# {spec['name']}\n\n`{command}`\n\n{how}\n\n{table}\n")
    ok_runs = {r["variant"]: runs[r["variant"]] for r in rows if r["status"] == "ok"}
    overlay_curves(ok_runs, spec["curves"], out / "curves.png", title=spec["name"])
    print(how)
    print(table)
    print(f"[compare] wrote {out / 'comparison.md'}, {out / 'curves.png'} and {out / 'runs.json'}")
    if failed:
        names = [r["variant"] for r in rows if r["status"] != "ok"]
        print(
            f"error: {failed} of {len(rows)} variants FAILED ({', '.join(names)}); their rows say FAILED in "
            f"{out / 'comparison.md'}, the reasons are in {', '.join(str(out / f'{n}.log') for n in names)}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def run_dirs(out: Path) -> dict[str, Path]:
    """``{variant: run directory}`` of the last ``compare`` into ``out`` (from its ``runs.json``)."""
    path = Path(out) / "runs.json"
    if not path.exists():
        return {}
    return {k: Path(v["run_dir"]) for k, v in json.loads(path.read_text()).items()}
