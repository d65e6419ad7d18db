"""Rows the benchmark driver computes beside a lab's runs: baselines on exactly the run's data, predictions.

Each function takes the finished run directories of one spec (one per seed) and returns rows as
``(lab, metric, split, value)``. The data are rebuilt from each run's resolved ``config.yaml``, so a baseline
sees the same file, split and features as the model it stands beside; baselines are fitted on the training
split, tuned on validation, and scored on test.
"""

from __future__ import annotations

import csv
import importlib
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np

from commands.run_report import read_config

Row = tuple[str, str, str, float]
AR_ORDER = 10


def datamodule(run_dir: Path):
    """The run's datamodule, built from its resolved config and set up for fit and test."""
    data = read_config(run_dir)["data"]
    module, _, name = data["class_path"].rpartition(".")
    args = dict(data.get("init_args") or {})
    if "feature_range" in args:
        args["feature_range"] = tuple(args["feature_range"])
    dm = getattr(importlib.import_module(module), name)(**args)
    dm.setup("fit")
    dm.setup("test")
    return dm


def _scores(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    err = pred - actual
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def series_baselines(lab: str, runs: list[Path]) -> list[Row]:
    """Ridge AR(10) (alpha chosen on val) and, for daily temperatures, the value 365 days earlier, in real units,
    on the run's test windows (first target column, first horizon step). The naive last value is the run's own
    ``test/baseline_rmse``."""
    from sklearn.linear_model import Ridge

    dm = datamodule(runs[0])
    info = dm.model_info()
    shift, scale = info["target_shift"][0], info["target_scale"][0]
    j = dm.value_columns.index(dm.target_columns[0])
    w = {s: dm.windows_array(s) for s in ("train", "val", "test")}

    def lags(split: str) -> np.ndarray:
        return w[split]["window"][:, -AR_ORDER:, j]

    def real(v: np.ndarray) -> np.ndarray:
        return v * scale + shift

    best = None
    for alpha in (0.01, 0.1, 1.0, 10.0):
        model = Ridge(alpha=alpha).fit(lags("train"), w["train"]["y"][:, 0])
        val = _scores(real(model.predict(lags("val"))), real(w["val"]["y"][:, 0]))["rmse"]
        if best is None or val < best[0]:
            best = (val, model)
    actual = real(w["test"]["y"][:, 0])
    rows = [
        (f"{lab}[ridge_ar{AR_ORDER}]", k, "test", v)
        for k, v in _scores(real(best[1].predict(lags("test"))), actual).items()
    ]
    if dm.dataset == "daily_min_temperatures" and len(dm.target_columns) == 1:
        series = dm.read()[dm.target_columns[0]]
        dates = dm.target_dates("test")
        before = series.reindex(dates - np.timedelta64(365, "D")).to_numpy()
        ok = np.isfinite(before)
        if ok.any():
            scores = _scores(before[ok], actual[ok])
            rows += [(f"{lab}[seasonal_naive]", k, "test", v) for k, v in scores.items()]
    return rows


def _arrays(dm) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {s: (dm.datasets[s].x.numpy(), dm.datasets[s].target.numpy()) for s in ("train", "val", "test")}


def house_prices_baselines(lab: str, runs: list[Path]) -> list[Row]:
    """scikit-learn LinearRegression and HistGradientBoostingRegressor on the run's split and features (USD)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    dm = datamodule(runs[0])
    info = dm.model_info()
    shift, scale = info["target_shift"][0], info["target_scale"][0]
    a = _arrays(dm)
    (xtr, ytr), (xte, yte) = a["train"], a["test"]
    real = yte[:, 0] * scale + shift
    rows: list[Row] = []
    for name, model in (
        ("sklearn_linear", LinearRegression()),
        ("sklearn_hist_gradient_boosting", HistGradientBoostingRegressor(random_state=0)),
    ):
        pred = model.fit(xtr, ytr[:, 0]).predict(xte) * scale + shift
        rows += [
            (f"{lab}[{name}]", "rmse", "test", float(mean_squared_error(real, pred) ** 0.5)),
            (f"{lab}[{name}]", "mae", "test", float(mean_absolute_error(real, pred))),
            (f"{lab}[{name}]", "r2", "test", float(r2_score(real, pred))),
        ]
    return rows


def _base(lab: str) -> str:
    return lab.partition("[")[0]


def regularization_baseline(lab: str, runs: list[Path]) -> list[Row]:
    """Logistic regression on each run's split (the runs' seeds), test accuracy averaged over them."""
    from sklearn.linear_model import LogisticRegression

    accs = []
    for run in runs:
        a = _arrays(datamodule(run))
        model = LogisticRegression(max_iter=1000).fit(*a["train"])
        accs.append(float((model.predict(a["test"][0]) == a["test"][1]).mean()))
    return [(f"{_base(lab)}[logistic_regression]", "acc", "test", statistics.mean(accs))]


def imbalanced_baselines(lab: str, runs: list[Path]) -> list[Row]:
    """Logistic regression, plain and class-weighted, on each run's split; the threshold chosen on validation
    (best F1) as the lab does; fraud-class metrics averaged over the runs' seeds."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from lab_modules.binary_metrics import choose_threshold, threshold_metrics

    keys = ("f1_fraud", "precision_fraud", "recall_fraud", "pr_auc", "roc_auc")
    found: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        a = _arrays(datamodule(run))
        for name, weight in (("logistic_regression", None), ("logistic_regression_balanced", "balanced")):
            model = LogisticRegression(max_iter=2000, class_weight=weight).fit(*a["train"])
            val = torch.tensor(model.predict_proba(a["val"][0])[:, 1])
            t = choose_threshold(("best_f1", 0.0), val, torch.tensor(a["val"][1]))
            test = torch.tensor(model.predict_proba(a["test"][0])[:, 1])
            m = threshold_metrics(test, torch.tensor(a["test"][1]), 0.5 if t is None else t, ["normal", "fraud"])
            for k in keys:
                found.setdefault(name, {}).setdefault(k, []).append(float(m[k]))
    return [
        (f"{_base(lab)}[{name}]", k, "test", statistics.mean(values))
        for name, by_key in found.items()
        for k, values in by_key.items()
    ]


def positive_probabilities(lab: str, runs: list[Path]) -> list[Row]:
    """P(positive) of each raw sentence (``benchmarks.specs.TEXT_PREDICT``, in order) from ``predictions.csv``."""
    from benchmarks.specs import TEXT_PREDICT

    rows: list[Row] = []
    with open(runs[0] / "predictions.csv") as f:
        for text, row in zip(TEXT_PREDICT, csv.DictReader(f)):
            p = float(row["prob"]) if row["pred_name"] == "positive" else 1 - float(row["prob"])
            rows.append((f"{_base(lab)}[{text}]", "p_positive", "predict", p))
    return rows


AFTER: dict[str, Callable[[str, list[Path]], list[Row]]] = {
    f.__name__: f
    for f in (
        series_baselines,
        house_prices_baselines,
        regularization_baseline,
        imbalanced_baselines,
        positive_probabilities,
    )
}
