"""Results table of the time-series labs on the full shared data, with the baselines in the same run.

    python benchmarks/series_results.py                                  # every series lab, the configs' epochs
    python benchmarks/series_results.py --max-epochs 20 --max-minutes 4  # a budget per run
    python benchmarks/series_results.py --only temperature_rnn,pm25_mlp --out runs/bench_series

Each lab config runs as ``cli.py fit --test_after_fit true`` on the full file (``--data.init_args.path``
under ``--data-root``, default ``../shared/data``); its test RMSE / MAE (real units: degrees C, ug/m3)
are read from the run's ``summary.json``. Beside each, on exactly the same test windows: the naive
last-value forecast (logged by the run itself), ridge AR(10) (scikit-learn ``Ridge`` on the last 10
values of each window, fitted on the train windows, alpha chosen on val) and, for the temperatures,
the seasonal naive forecast (the value 365 days earlier). The table is printed and written to
``<out>/series_results.md`` (and ``.json``) with each run's command and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datamodules.timeseries import TimeSeriesDataModule  # noqa: E402

LABS = {  # config -> (full-data folder under --data-root, what the report printed)
    "temperature_rnn": ("daily_min_temperatures", "test MSE 0.0282 (scaled; same for RNN and LSTM)"),
    "temperature_rnn_lstm": ("daily_min_temperatures", "test MSE 0.0282 (scaled; same for RNN and LSTM)"),
    "temperature_rnn_improved": ("daily_min_temperatures", "(our recipe; aim: below ridge AR(10))"),
    "pm25_lstm": ("india_air_quality", "test MSE 0.0062 (scaled)"),
    "pm25_mlp": ("india_air_quality", "(defined, never trained)"),
}
AR_ORDER = 10


def _data(config: Path, path: Path) -> TimeSeriesDataModule:
    args = yaml.safe_load(config.read_text())["data"]["init_args"]
    args["feature_range"] = tuple(args.get("feature_range", (-1.0, 1.0)))
    dm = TimeSeriesDataModule(**{**args, "source": "path", "path": str(path)})
    dm.setup("fit")
    return dm


def _scores(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    err = pred - actual
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def baselines(dm: TimeSeriesDataModule) -> dict[str, dict[str, float]]:
    """Naive, ridge AR(10) and (daily temperatures) seasonal naive on the test windows, real units,
    first target column, first horizon step."""
    from sklearn.linear_model import Ridge

    k = len(dm.target_columns)
    j = dm.value_columns.index(dm.target_columns[0])
    shift, scale = dm._target_stats()
    real = lambda v: v * scale[0] + shift[0]  # noqa: E731
    w = {s: dm.windows_array(s) for s in ("train", "val", "test")}
    lag = lambda s: w[s]["window"][:, -AR_ORDER:, j]  # noqa: E731
    best = None
    for alpha in (0.01, 0.1, 1.0, 10.0):  # chosen on val, never on test
        model = Ridge(alpha=alpha).fit(lag("train"), w["train"]["y"][:, 0])
        val = _scores(real(model.predict(lag("val"))), real(w["val"]["y"][:, 0]))["rmse"]
        if best is None or val < best[0]:
            best = (val, alpha, model)
    actual = real(w["test"]["y"][:, 0])
    out = {
        "naive last value": _scores(real(w["test"]["naive"][:, 0]), actual),
        f"ridge AR({AR_ORDER}), alpha {best[1]}": _scores(real(best[2].predict(lag("test"))), actual),
    }
    if dm.dataset == "daily_min_temperatures" and k == 1:
        series = dm.read()[dm.target_columns[0]]
        dates = dm.target_dates("test")
        before = series.reindex(dates - np.timedelta64(365, "D")).to_numpy()
        ok = np.isfinite(before)
        out["seasonal naive (365 days)"] = _scores(before[ok], actual[ok])
    return out


def run_lab(name: str, data: Path, out: Path, extra: list[str], threads: int) -> dict:
    cmd = [
        sys.executable,
        "cli.py",
        "fit",
        "--config",
        f"configs/labs/series/{name}.yaml",
        "--data.init_args.path",
        str(data),
        "--test_after_fit",
        "true",
        "--runs_dir",
        str(out),
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    ]
    started = time.perf_counter()
    # Small recurrent nets: one intra-op thread is fastest, and on a shared CPU several spin-wait (100x slower).
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    runs = sorted((out / name).glob("version_*"), key=lambda p: p.stat().st_mtime)
    if proc.returncode != 0 or not runs:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"command": shlex.join(cmd), "wall_s": wall, "failed": True}
    summary = json.loads((runs[-1] / "summary.json").read_text())
    return {"command": shlex.join(cmd), "wall_s": round(wall, 1), "summary": summary, "run_dir": str(runs[-1])}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default="runs/bench_series")
    p.add_argument("--only", default=None, help="comma-separated lab configs (default: all)")
    p.add_argument("--max-epochs", type=int, default=None, help="cap every run's epochs (default: the config's)")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-time budget per run (Lightning max_time)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per run (OMP_NUM_THREADS)")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    extra = ["--seed_everything", str(args.seed)]
    if args.max_epochs:
        extra += ["--trainer.max_epochs", str(args.max_epochs)]
    if args.max_minutes:
        s = int(args.max_minutes * 60)
        extra += ["--trainer.max_time", f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"]
    names = args.only.split(",") if args.only else list(LABS)
    rows, results, base_cache = [], {}, {}
    started = time.perf_counter()
    for name in names:
        folder, reported = LABS[name]
        data = Path(args.data_root) / folder
        dm = _data(ROOT / "configs" / "labs" / "series" / f"{name}.yaml", data)
        key = (folder, dm.lookback, tuple(dm.value_columns), tuple(sorted((dm.filter or {}).items())))
        if key not in base_cache:
            base_cache[key] = baselines(dm)
        res = run_lab(name, data, out, extra, args.threads)
        res["baselines"] = base_cache[key]
        results[name] = res
        unit = "C" if folder == "daily_min_temperatures" else "ug/m3"
        test = res.get("summary", {}).get("test", {})
        model = f"{test['test/rmse']:.3f} / {test['test/mae']:.3f}" if test else "FAILED"
        base = "; ".join(f"{k} {v['rmse']:.3f} / {v['mae']:.3f}" for k, v in res["baselines"].items())
        epochs = res.get("summary", {}).get("epochs", "-")
        rows.append(f"| {name} | {model} {unit} | {base} | {reported} | {epochs} | {res['wall_s']} |")
        print(rows[-1], flush=True)
    header = (
        "| lab | test RMSE / MAE (real units) | baselines on the same test windows: RMSE / MAE | report | "
        "epochs | wall (s) |\n|---|---|---|---|---|---|"
    )
    table = header + "\n" + "\n".join(rows)
    total = time.perf_counter() - started
    text = (
        f"{table}\n\nCommand: python benchmarks/series_results.py {shlex.join(argv or sys.argv[1:])}"
        f" (total wall time {total:.0f} s)\n"
    )
    print("\n" + text)
    (out / "series_results.md").write_text(text)
    (out / "series_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
