"""Reads finished runs (``metrics.csv``, ``summary.json``) and draws comparison tables and curves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from callbacks.figures import plt


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
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
