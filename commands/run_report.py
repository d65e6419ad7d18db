"""Reads finished runs (``metrics.csv``, ``summary.json``, ``config.yaml``) and draws comparison tables and curves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from callbacks.figures import plt

# Metric names (the part after ``<stage>/``) where lower is better; anything else ranks higher-is-better.
LOWER_IS_BETTER = (
    "loss",
    "nelbo",
    "recon",
    "kl",
    "fid",
    "error",
    "err",
    "l1",
    "mse",
    "mae",
    "rmse",
    "perplexity",
    "ppl",
)


def read_metrics(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(epoch, value), ...]}`` from a CSVLogger ``metrics.csv`` (epoch-level rows)."""
    series: dict[str, list[tuple[int, float]]] = {}
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return series
    with open(path) as f:
        for row in csv.DictReader(f):
            epoch = int(float(row.get("epoch") or 0))
            for k, v in row.items():
                if k in ("epoch", "step") or v in ("", None) or k.endswith("_step"):
                    continue
                series.setdefault(k.removesuffix("_epoch"), []).append((epoch, float(v)))
    return series


def read_summary(run_dir: Path) -> dict:
    path = Path(run_dir) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def read_config(run_dir: Path) -> dict:
    """The run's resolved ``config.yaml`` ({} when there is none)."""
    path = Path(run_dir) / "config.yaml"
    try:
        return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    except yaml.YAMLError:
        return {}


def metric_mode(metric: str, run_dir: Path | None = None) -> str:
    """``min`` or ``max``: the run's checkpoint mode when its checkpoint monitors ``metric``, else by
    the metric's name (losses, NELBO, FID, errors: lower is better)."""
    if run_dir is not None:
        ckpt = read_config(run_dir).get("checkpoint") or {}
        if ckpt.get("monitor") == metric and ckpt.get("mode") in ("min", "max"):
            return ckpt["mode"]
    name = metric.rsplit("/", 1)[-1].lower()
    return (
        "min"
        if any(name == w or name.startswith(w + "_") or name.endswith("_" + w) for w in LOWER_IS_BETTER)
        else "max"
    )


def best_value(points: list[tuple[int, float]], mode: str) -> float | None:
    """The best epoch value of a series (``min`` or ``max``), None for an empty one."""
    values = [v for _, v in points]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def overlay_curves(runs: dict[str, Path], metrics: list[str], out: Path, title: str = "") -> Path:
    """One panel per metric, one line per run, against epoch."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, run_dir in runs.items():
            points = read_metrics(run_dir).get(metric, [])
            if points:
                ax.plot([e + 1 for e, _ in points], [v for _, v in points], marker="o", ms=3, label=name)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
