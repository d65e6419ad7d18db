"""Tabular-lab results on the shared data, each beside a scikit-learn baseline on the SAME split and features.

    python benchmarks/tabular_results.py [--data-root ../shared/data] [--only house_prices,regularization,imbalanced]
        [--seeds 3] [--house-epochs 60] [--epochs 30] [--jobs 2] [--budget-minutes 60] [--quick] [--out DIR]

- house_prices: linear model and MLP 128-64, MSE and MAE loss (four fresh runs), test RMSE / MAE / R2 in US
  dollars, beside sklearn LinearRegression and HistGradientBoostingRegressor.
- regularization (Titanic, 6 features): baseline / L1 5e-4 / L2 (weight decay 0.01) / dropout 0.3, test accuracy
  as mean +- std over ``--seeds`` splits (split seed = training seed = 0, 1, ...), beside logistic regression on
  the same splits; ``regularization_curves.png`` overlays the four runs' train/val curves (seed 0).
- imbalanced (fraud cut to 2% frauds before the split): every strategy's test precision / recall / F1 of the
  fraud class and PR-AUC at the threshold chosen on validation (best F1), mean over the seeds, beside logistic
  regression (plain and class-weighted) with its threshold chosen the same way.

Every run is ``cli.py fit --test_after_fit true`` in its own process (``--jobs`` at a time). ``--budget-minutes``
skips the runs not yet started once the budget is spent (they show as SKIPPED). ``--quick``: tiny limits, one
seed (a smoke test of this script, not results). Writes ``results.md`` and the runs under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from commands.run_report import overlay_curves  # noqa: E402

LABS = ROOT / "configs" / "labs" / "tabular"
QUICK = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
QUICK += ["--trainer.limit_test_batches", "1", "--trainer.num_sanity_val_steps", "0"]

HOUSE = {  # name -> (config, extra args)
    "linear_mse": ("house_prices", []),
    "linear_mae": ("house_prices", ["--model.init_args.loss", "mae"]),
    "mlp_mse": ("house_prices_mlp", []),
    "mlp_mae": ("house_prices_mlp_mae", []),
}
REGULARIZATION = {
    "baseline": [],
    "l1": ["--model.init_args.l1", "5.0e-4"],
    "l2": ["--model.init_args.optimizer.weight_decay", "0.01"],
    "dropout": ["--model.init_args.net.init_args.dropout", "0.3"],
}
STRATEGIES = ["none", "weighted_sampler", "class_weights", "undersample", "oversample", "smote"]


class Runner:
    """Runs ``cli.py fit`` jobs (a thread pool of subprocesses) under a wall-clock budget."""

    def __init__(self, out: Path, data_root: Path, common: list[str], budget_s: float) -> None:
        self.out, self.data_root, self.common = out, data_root, common
        self.deadline = time.monotonic() + budget_s

    def fit(self, name: str, config: str, extra: list[str]) -> Path | None:
        if time.monotonic() > self.deadline:
            print(f"[tabular_results] SKIPPED {name} (budget spent)", flush=True)
            return None
        runs = self.out / "runs"
        cmd = [sys.executable, str(ROOT / "cli.py"), "fit", "--config", str(LABS / f"{config}.yaml")]
        cmd += ["--data.init_args.path", str(self.data_root), "--test_after_fit", "true"]
        cmd += ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
        cmd += [*extra, *self.common, "--runs_dir", str(runs), "--lab", name, "--run_version", "v"]
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log, "w") as f:
            rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        took = time.monotonic() - start
        print(f"[tabular_results] {name}: rc {rc}, {took:.0f} s", flush=True)
        run = runs / name / "v"
        return run if rc == 0 and (run / "summary.json").exists() else None


def test_metrics(run: Path | None) -> dict[str, float]:
    if run is None:
        return {}
    return json.loads((run / "summary.json").read_text()).get("test", {})


def fmt(values: list[float], digits: int = 3, pct: bool = False) -> str:
    if not values:
        return "SKIPPED"
    scale = 100 if pct else 1
    m = statistics.mean(values) * scale
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} +- {statistics.stdev(values) * scale:.{digits}f}"


def _arrays(dm) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    dm.setup("fit")
    dm.setup("test")
    return {s: (dm.datasets[s].x.numpy(), dm.datasets[s].target.numpy()) for s in ("train", "val", "test")}


def _data(config: str, data_root: Path, **override):
    """The lab's TabularDataModule (its config's data arguments) on the shared copy, for the sklearn baselines."""
    import yaml

    from datamodules.tabular import TabularDataModule

    args = yaml.safe_load((LABS / f"{config}.yaml").read_text())["data"]["init_args"]
    args = {k: v for k, v in args.items() if k not in ("batch_size", "eval_batch_size")}
    return TabularDataModule(**{**args, "path": str(data_root), **override})


# --- house prices ---------------------------------------------------------------------------------
def house_prices(runner: Runner, pool: ThreadPoolExecutor, epochs: list[str]) -> str:
    futures = {n: pool.submit(runner.fit, f"house_{n}", cfg, [*extra, *epochs]) for n, (cfg, extra) in HOUSE.items()}
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    dm = _data("house_prices", runner.data_root)
    arrays = _arrays(dm)
    shift, scale = dm.data_state["target_shift"][0], dm.data_state["target_scale"][0]
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
    real = yte[:, 0] * scale + shift
    rows = []
    for name, model in (
        ("sklearn LinearRegression", LinearRegression()),
        ("sklearn HistGradientBoosting", HistGradientBoostingRegressor(random_state=0)),
    ):
        pred = model.fit(xtr, ytr[:, 0]).predict(xte) * scale + shift
        rmse = mean_squared_error(real, pred) ** 0.5
        rows.append(
            f"| {name} | - | {rmse:,.0f} | {mean_absolute_error(real, pred):,.0f} | {r2_score(real, pred):.3f} |"
        )
    ours = []
    for name, fut in futures.items():
        t = test_metrics(fut.result())
        if not t:
            ours.append(f"| ours {name} | {HOUSE[name][0]} | SKIPPED/FAILED | | |")
            continue
        ours.append(
            f"| ours {name} | {HOUSE[name][0]} | {t['test/rmse']:,.0f} | {t['test/mae']:,.0f} | {t['test/r2']:.3f} |"
        )
    head = "| model | config | test RMSE (USD) | test MAE (USD) | test R2 |\n|---|---|---|---|---|"
    n = {s: len(a[1]) for s, a in arrays.items()}
    return (
        f"### house_prices (California housing, random 70/15/15: train {n['train']}, val {n['val']}, "
        f"test {n['test']}; {xtr.shape[1]} features)\n\n{head}\n" + "\n".join(ours + rows) + "\n"
    )


# --- regularization ---------------------------------------------------------------------------------
def regularization(runner: Runner, pool: ThreadPoolExecutor, seeds: list[int], epochs: list[str]) -> str:
    futures = {
        (name, s): pool.submit(
            runner.fit,
            f"reg_{name}_s{s}",
            "regularization",
            [*extra, *epochs, "--seed_everything", str(s), "--data.init_args.split_seed", str(s)],
        )
        for s in seeds
        for name, extra in REGULARIZATION.items()
    }
    from sklearn.linear_model import LogisticRegression

    lr_acc = []
    for s in seeds:
        a = _arrays(_data("regularization", runner.data_root, split_seed=s))
        model = LogisticRegression(max_iter=1000).fit(*a["train"])
        lr_acc.append(float((model.predict(a["test"][0]) == a["test"][1]).mean()))
    lines, curves = [], {}
    for name in REGULARIZATION:
        runs = [futures[(name, s)].result() for s in seeds]
        acc = [test_metrics(r)["test/acc"] for r in runs if test_metrics(r)]
        val = [v for v in (_best_val(r) for r in runs if r is not None) if v is not None]
        lines.append(f"| {name} | {fmt(val, 2, pct=True)} | {fmt(acc, 2, pct=True)} | {len(acc)} |")
        if runs[0] is not None:
            curves[name] = runs[0]
    lines.append(f"| logistic regression (sklearn) | - | {fmt(lr_acc, 2, pct=True)} | {len(lr_acc)} |")
    png = runner.out / "regularization_curves.png"
    if curves:
        overlay_curves(curves, ["train/loss", "val/loss", "train/acc", "val/acc"], png, "regularization (seed 0)")
    head = "| variant | best val acc % | test acc % (mean +- std) | seeds |\n|---|---|---|---|"
    return (
        "### regularization (Titanic, 6 features, stratified 65/15/20, splits seeded 0..n-1)\n\n"
        f"{head}\n" + "\n".join(lines) + f"\n\nCurves: `{png.name}`\n"
    )


def _best_val(run: Path) -> float | None:
    summary = json.loads((run / "summary.json").read_text())
    return summary.get("best_score")


# --- imbalanced -------------------------------------------------------------------------------------
def imbalanced(runner: Runner, pool: ThreadPoolExecutor, seeds: list[int], epochs: list[str]) -> str:
    futures = {
        (st, s): pool.submit(
            runner.fit,
            f"fraud_{st}_s{s}",
            "imbalanced",
            [
                "--data.init_args.imbalance",
                st,
                *epochs,
                "--seed_everything",
                str(s),
                "--data.init_args.split_seed",
                str(s),
            ],
        )
        for s in seeds
        for st in STRATEGIES
    }
    import torch
    from sklearn.linear_model import LogisticRegression

    from lab_modules.binary_metrics import choose_threshold, threshold_metrics

    base: dict[str, list[dict[str, float]]] = {"logistic regression": [], "logistic regression, class-weighted": []}
    sizes = ""
    for s in seeds:
        dm = _data("imbalanced", runner.data_root, split_seed=s)
        a = _arrays(dm)
        if not sizes:
            sizes = ", ".join(f"{k} {len(v[1])} ({int(v[1].sum())} frauds)" for k, v in a.items())
        for name, weight in (("logistic regression", None), ("logistic regression, class-weighted", "balanced")):
            model = LogisticRegression(max_iter=2000, class_weight=weight).fit(*a["train"])
            val = torch.tensor(model.predict_proba(a["val"][0])[:, 1])
            t = choose_threshold(("best_f1", 0.0), val, torch.tensor(a["val"][1]))
            test = torch.tensor(model.predict_proba(a["test"][0])[:, 1])
            m = threshold_metrics(test, torch.tensor(a["test"][1]), 0.5 if t is None else t, ["normal", "fraud"])
            base[name].append({f"test/{k}": float(v) for k, v in m.items()})
    keys = ["test/precision_fraud", "test/recall_fraud", "test/f1_fraud", "test/pr_auc", "test/roc_auc"]
    lines = []
    for st in STRATEGIES:
        results = [test_metrics(futures[(st, s)].result()) for s in seeds]
        results = [r for r in results if r]
        lines.append(f"| {st} | " + " | ".join(fmt([r[k] for r in results]) for k in keys) + f" | {len(results)} |")
    for name, results in base.items():
        lines.append(
            f"| {name} (sklearn) | " + " | ".join(fmt([r[k] for r in results]) for k in keys) + f" | {len(results)} |"
        )
    head = "| strategy | precision | recall | F1 | PR-AUC | ROC-AUC | seeds |\n|---|---|---|---|---|---|---|"
    return (
        "### imbalanced (credit-card fraud cut to 2% frauds before a stratified 60/20/20 split; fraud-class "
        f"metrics at the threshold chosen on validation, best F1; seed 0: {sizes})\n\n{head}\n"
        + "\n".join(lines)
        + "\n\nReport (R2-L8, 28.6% fraud sample, no strategy): recall 0.85, F1 0.56.\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--only", default="house_prices,regularization,imbalanced")
    p.add_argument("--seeds", type=int, default=3, help="splits (and training seeds) for Titanic and fraud")
    p.add_argument(
        "--epochs", type=int, default=None, help="max_epochs of the Titanic and fraud runs (default: config)"
    )
    p.add_argument(
        "--house-epochs", type=int, default=None, help="max_epochs of the house-price runs (default: config)"
    )
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--budget-minutes", type=float, default=120.0, help="no run starts after this")
    p.add_argument("--quick", action="store_true", help="tiny limits, one seed: checks that it all runs")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    start = time.monotonic()
    out = Path(
        args.out
        or ROOT / "runs" / "benchmarks" / f"tabular{'_quick' if args.quick else ''}" / time.strftime("%Y%m%d-%H%M%S")
    )
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(1 if args.quick else args.seeds))
    common = QUICK if args.quick else []
    runner = Runner(out, Path(args.data_root).resolve(), common, args.budget_minutes * 60)
    epochs = [] if args.epochs is None or args.quick else ["--trainer.max_epochs", str(args.epochs)]
    house_epochs = [] if args.house_epochs is None or args.quick else ["--trainer.max_epochs", str(args.house_epochs)]
    only = set(args.only.split(","))
    sections = []
    # the sections submit their runs to `pool` (--jobs at a time) and collect them; their own threads wait apart
    with ThreadPoolExecutor(max_workers=args.jobs) as pool, ThreadPoolExecutor(max_workers=3) as sections_pool:
        jobs = []
        if "house_prices" in only:
            jobs.append(sections_pool.submit(house_prices, runner, pool, house_epochs))
        if "regularization" in only:
            jobs.append(sections_pool.submit(regularization, runner, pool, seeds, epochs))
        if "imbalanced" in only:
            jobs.append(sections_pool.submit(imbalanced, runner, pool, seeds, epochs))
        sections = [j.result() for j in jobs]
    wall = time.monotonic() - start
    command = "python benchmarks/tabular_results.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"# Tabular results\n\n`{command}`: wall time {wall / 60:.1f} min\n\n" + "\n".join(sections)
    (out / "results.md").write_text(text)
    print(text)
    print(f"[tabular_results] written to {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
