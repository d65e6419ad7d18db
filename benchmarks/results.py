"""The benchmark driver: runs a family's labs through the CLI and writes their rows to docs/results/<family>.json.

    python -m benchmarks.results --family vision                        # every vision lab, full recipes
    python -m benchmarks.results --family text --labs trec_finetune     # some labs (variants included)
    python -m benchmarks.results --family series --quick                # tiny limits, embedded data: a smoke test
    python -m benchmarks.results --family tabular -- --trainer.max_epochs 15    # after --: to every run

Each run is one ``cli.py`` process (``fit --test_after_fit true``, or ``test`` / ``predict`` from an earlier
run's checkpoint) of a lab config on the full data under ``--data-root`` (``MANIFEST.md`` there), as
``benchmarks/specs.py`` lists them. Rows ``{lab, metric, split, value, report_value, report_note, command,
commit, machine, date}`` are merged into ``<results-dir>/<family>.json`` by (lab, metric, split), so a partial
run replaces only its own rows. ``command`` reproduces the row: the CLI command of a single run, this driver's
command for a mean over seeds or a baseline it computes. ``--quick`` runs with the tests' tiny limits on the
embedded data and, unless ``--results-dir`` is given, writes under ``runs/``, never over the docs' numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.specs import FAMILIES, Family, Metric, Run
from benchmarks.tiny import TINY

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("lab", "metric", "split", "value", "report_value", "report_note", "command", "commit", "machine", "date")


# --- provenance ----------------------------------------------------------------------------------------------
def commit() -> str:
    """``git rev-parse --short HEAD``, with ``-dirty`` when tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode:
        return "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def machine(accelerator: str) -> str:
    """CPU model and core count (and the GPUs, when the runs may use them)."""
    cpu = platform.processor() or platform.machine()
    try:
        names = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = names[0].strip() if names else cpu
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores"
    if accelerator in ("auto", "gpu", "cuda"):
        import torch

        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            text = f"{n} x {torch.cuda.get_device_name(0)}; {text}"
    return text


# --- one run -------------------------------------------------------------------------------------------------
def _compare_overrides(run: Run) -> list[str]:
    if not run.compare:
        return []
    import yaml

    spec = yaml.safe_load((ROOT / "configs" / "compare" / f"{run.compare}.yaml").read_text())
    return [*spec.get("args", []), *spec["variants"][run.variant]]


def _data_args(family: Family, run: Run, root: str, quick: bool) -> list[str]:
    """The family's data overrides for the run; under --quick the embedded data instead of the full files."""
    pairs = family.data.get(run.data, ())
    out: list[str] = []
    for option, value in zip(pairs[::2], pairs[1::2]):
        if "{root}" in value:
            if quick:
                continue
            value = value.replace("{root}", root)
        out += [option, value]
    return out + (["--data.init_args.source", "embedded"] if quick else [])


def cli_args(family: Family, run: Run, args: argparse.Namespace, root: str, seed: int | None) -> list[str]:
    """The ``cli.py`` arguments of one run (``root``: the data root as it is written in the command)."""
    out = [run.subcommand, "--config", f"configs/labs/{run.config}", *_data_args(family, run, root, args.quick)]
    out += [*_compare_overrides(run), *run.args, *([] if args.quick else run.full_args)]
    out += ["--trainer.accelerator", args.accelerator, *((*TINY, *run.quick_args) if args.quick else [])]
    out += args.passthrough
    if seed is not None:
        out += ["--seed_everything", str(seed), "--data.init_args.split_seed", str(seed)]
    if run.subcommand == "fit":
        out += ["--test_after_fit", "true"]
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_")


def execute(cmd: list[str], out: Path, name: str, threads: int) -> Path | None:
    """Run ``cli.py cmd`` into ``out/<name>/run``; the run directory, or None when it failed."""
    env = {k: v for k, v in os.environ.items() if k != "DL_LABS_RUN_VERSION"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{name}.log"
    full = [sys.executable, "cli.py", *cmd, "--runs_dir", str(out), "--lab", name, "--run_version", "run"]
    full += ["--trainer.enable_progress_bar", "false"]
    print(f"[results] {name}: python cli.py {shlex.join(cmd)}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.call(full, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    run_dir = out / name / "run"
    if rc:
        tail = " | ".join(log.read_text().strip().splitlines()[-2:])
        print(f"[results] {name}: FAILED (exit {rc}), see {log}: {tail}", flush=True)
        return None
    print(f"[results] {name}: {time.perf_counter() - start:.0f} s", flush=True)
    return run_dir


def read_value(run_dir: Path, metric: Metric) -> float | None:
    """The metric's number from a finished run directory."""
    from commands.run_report import metric_mode, read_metrics, read_summary

    summary = read_summary(run_dir)
    if metric.read == "test":
        value = (summary.get("test") or {}).get(f"test/{metric.name}")
    elif metric.read in ("phase1", "phase2"):
        value = ((summary.get("phases") or {}).get(metric.read) or {}).get(f"test_{metric.name}")
    else:
        key = f"{metric.split}/{metric.name}"
        points = [v for _, v in read_metrics(run_dir).get(key, [])]
        if not points:
            return None
        pick = min if metric_mode(key, run_dir) == "min" else max
        value = points[-1] if metric.read == "last" else pick(points)
    return None if value is None else float(value)


# --- the family ----------------------------------------------------------------------------------------------
def select(family: Family, labs: list[str]) -> list[Run]:
    """The runs named (by lab, or by the lab without its ``[variant]``), with the runs they need, in spec order."""
    if not labs:
        return list(family.runs)
    wanted = {r.lab for r in family.runs if r.lab in labs or r.lab.partition("[")[0] in labs}
    by_lab = {r.lab: r for r in family.runs}
    todo = list(wanted)
    while todo:
        need = by_lab[todo.pop()].needs
        if need and need not in wanted:
            wanted.add(need)
            todo.append(need)
    return [r for r in family.runs if r.lab in wanted]


def merge(path: Path, rows: list[dict]) -> None:
    """Replace the rows of ``path`` with the same (lab, metric, split), append the new ones, keep the order."""
    old = json.loads(path.read_text()) if path.exists() else []
    new = {(r["lab"], r["metric"], r["split"]): r for r in rows}
    merged = [new.pop((r["lab"], r["metric"], r["split"]), r) for r in old]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged + list(new.values()), indent=2) + "\n")


def parse(argv: list[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, passthrough = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.results", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--family", required=True, choices=sorted(FAMILIES))
    p.add_argument("--labs", default="", help="comma-separated labs of the family (default: all)")
    p.add_argument("--quick", action="store_true", help="the tests' tiny limits on the embedded data: a smoke test")
    p.add_argument("--data-root", default=None, help="folder of the full data sets (default ../shared/data)")
    p.add_argument("--results-dir", type=Path, default=None, help="default docs/results (--quick: under runs/)")
    p.add_argument("--out", type=Path, default=None, help="run directories (default runs/benchmarks/<family>/<time>)")
    p.add_argument("--accelerator", default="auto", help="--trainer.accelerator of every run")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: the family's)")
    args = p.parse_args(argv)
    args.passthrough, args.argv = passthrough, argv + (["--", *passthrough] if passthrough else [])
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    family = FAMILIES[args.family]
    labs = [n for n in args.labs.split(",") if n]
    known = {r.lab for r in family.runs} | {r.lab.partition("[")[0] for r in family.runs}
    unknown = sorted(set(labs) - known)
    if unknown:
        print(f"error: --labs: {unknown} not in family {args.family}; choose from {sorted(known)}", file=sys.stderr)
        return 2
    root = args.data_root or os.path.relpath(ROOT.parent / "shared" / "data", ROOT)
    if not args.quick and family.data and not (ROOT / root).is_dir():
        print(f"error: --data-root {root}: no such folder; pass the folder of the full data sets", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kind = f"{args.family}_quick" if args.quick else args.family
    out = (args.out or ROOT / "runs" / "benchmarks" / kind / stamp).resolve()
    results_dir = args.results_dir or (
        ROOT / "runs" / "benchmarks" / "quick_results" if args.quick else ROOT / "docs" / "results"
    )
    threads = family.threads if args.threads is None else args.threads
    provenance = {
        "commit": commit(),
        "machine": machine(args.accelerator),
        "date": datetime.now(timezone.utc).date().isoformat(),
    }
    rows: list[dict] = []
    finished: dict[str, Path] = {}
    failed: list[str] = []

    def driver_command(run: Run) -> str:
        cmd = ["python", "-m", "benchmarks.results", "--family", args.family, "--labs", run.lab.partition("[")[0]]
        cmd += [*(["--quick"] if args.quick else []), *(["--data-root", root] if args.data_root else [])]
        return shlex.join(cmd + (["--", *args.passthrough] if args.passthrough else []))

    def row(lab: str, metric: Metric | None, name: str, split: str, value: float | None, command: str) -> dict:
        return {
            "lab": lab,
            "metric": name,
            "split": split,
            "value": None if value is None else round(value, 6),
            "report_value": metric.report_value if metric else None,
            "report_note": metric.report_note if metric else "",
            "command": command,
            **provenance,
        }

    for run in select(family, labs):
        seeds = [None] if run.seeds <= 1 else list(range(1 if args.quick else run.seeds))
        dirs, command = [], ""
        for seed in seeds:
            cmd = cli_args(family, run, args, root, seed)
            shown = list(cmd)
            if run.needs:
                ckpt = finished.get(run.needs)
                if ckpt is None:
                    print(f"[results] {run.lab}: skipped ({run.needs} did not finish)", flush=True)
                    break
                for option in run.needs_options:
                    cmd += [option, str(ckpt)]
                    shown += [option, f"<best checkpoint of {run.needs}>"]
            name = _safe(run.lab) + ("" if seed is None else f"_seed{seed}")
            run_dir = execute(cmd, out, name, threads)
            if run_dir is None:
                break
            dirs.append(run_dir)
            command = "python cli.py " + shlex.join(shown)
        if len(dirs) < len(seeds):
            failed.append(run.lab)
            continue
        from commands.run_report import read_summary

        best = read_summary(dirs[0]).get("best_checkpoint") or str(dirs[0] / "checkpoints" / "last.ckpt")
        finished[run.lab] = Path(best)
        command = command if len(dirs) == 1 else driver_command(run)
        for metric in run.metrics:
            values = [v for v in (read_value(d, metric) for d in dirs) if v is not None]
            value = statistics.mean(values) if values else None
            if value is None:
                print(f"[results] {run.lab}: no {metric.split}/{metric.name} ({metric.read}) in {dirs[0]}", flush=True)
            rows.append(row(metric.lab or run.lab, metric, metric.name, metric.split, value, command))
        if run.after:
            from benchmarks.baselines import AFTER

            for lab, name, split, value in AFTER[run.after](run.lab, dirs):
                rows.append(row(lab, None, name, split, value, driver_command(run)))
    path = results_dir / f"{args.family}.json"
    if rows:
        merge(path, rows)
    for r in rows:
        print(f"[results] {r['lab']:<48} {r['split']:<7} {r['metric']:<16} {r['value']}", flush=True)
    print(f"[results] {len(rows)} rows -> {path}" + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
