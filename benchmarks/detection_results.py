"""Detection results on the generated digit canvases: mAP@[.5:.95] and mAP@0.5 on the test canvases.

    python benchmarks/detection_results.py                                   # both recipes, 20 epochs each
    python benchmarks/detection_results.py --budget-min 10 --train-batches 50 --out runs/bench_detection

Each variant is ``cli.py fit --config configs/labs/dense/<config>.yaml --test_after_fit true`` on the
embedded canvases (train / val / test from disjoint MNIST digit pools), stopped by whichever comes first:
``--epochs`` or ``--budget-min`` minutes of training (Lightning's ``max_time``); the test runs on the best
checkpoint by ``val/map``. ``--train-batches`` caps the batches per epoch (a shorter epoch: a finer
validation curve on a slow CPU). Prints, per variant: epochs and steps done, the validation mAP curve,
test mAP@[.5:.95] / mAP@0.5 / mAP@0.75, fit and total wall time, and the command; also written to
``<out>/detection_results.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands.run_report import read_metrics, read_summary  # noqa: E402

VARIANTS = {"report": "detection", "improved": "detection_improved"}


def run(variant: str, args: argparse.Namespace) -> dict:
    config = ROOT / "configs" / "labs" / "dense" / f"{VARIANTS[variant]}.yaml"
    cmd = [
        sys.executable,
        "cli.py",
        "fit",
        "--config",
        str(config.relative_to(ROOT)),
        "--trainer.max_epochs",
        str(args.epochs),
        "--trainer.max_time",
        f"00:00:{args.budget_min:02d}:00",
        "--trainer.enable_progress_bar",
        "false",
        "--data.init_args.n_train",
        str(args.n_train),
        "--data.init_args.n_val",
        str(args.n_val),
        "--data.init_args.n_test",
        str(args.n_test),
        "--test_after_fit",
        "true",
        "--runs_dir",
        str(args.out),
        "--lab",
        f"detection_{variant}",
    ]
    if args.train_batches:
        cmd += ["--trainer.limit_train_batches", str(args.train_batches)]
    if args.accelerator:
        cmd += ["--trainer.accelerator", args.accelerator]
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = time.time() - start
    run_dir = max((args.out / f"detection_{variant}").glob("version_*"), key=lambda p: p.stat().st_mtime)
    summary, metrics = read_summary(run_dir), read_metrics(run_dir)
    test = summary.get("test", {})
    return {
        "variant": variant,
        "epochs": summary.get("epochs"),
        "steps": summary.get("global_step"),
        "val_map_curve": [(e, round(v, 4)) for e, v in metrics.get("val/map", [])],
        "val_map50_curve": [(e, round(v, 4)) for e, v in metrics.get("val/map_50", [])],
        "test_map": test.get("test/map"),
        "test_map_50": test.get("test/map_50"),
        "test_map_75": test.get("test/map_75"),
        "fit_seconds": summary.get("fit_seconds"),
        "wall_seconds": round(wall, 1),
        "command": shlex.join(["python", *cmd[1:]]),
        "run_dir": str(run_dir),
    }


def canvas_figure(path: Path, n: int = 8) -> None:
    """The first ``n`` test canvases with their ground-truth boxes and digit labels, as one PNG."""
    import torch
    from torchvision.utils import draw_bounding_boxes, save_image

    from datamodules.detection import DetectionDataModule

    dm = DetectionDataModule(source="embedded", n_train=1, n_val=1, n_test=n)
    dm.setup("test")
    images = []
    for i in range(n):
        item = dm.datasets["test"][i]
        img = (item["image"] * 255).to(torch.uint8)
        names = [dm.class_names[k] for k in item["labels"].tolist()]
        images.append(draw_bounding_boxes(img, item["boxes"], labels=names, colors="#ff4040", width=1).float() / 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.stack(images), str(path), nrow=n // 2, padding=4, pad_value=1.0)
    print(f"canvas figure: {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="report,improved", help="comma-separated: report, improved")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--budget-min", type=int, default=60, help="training minutes per variant (max_time)")
    p.add_argument("--train-batches", type=int, default=0, help="batches per epoch (0: all)")
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--accelerator", default="", help="e.g. gpu (default: the trainer's auto)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_detection")
    p.add_argument("--figure", default=str(ROOT / "docs" / "detection" / "canvases.png"), help="'' for none")
    args = p.parse_args()
    args.out = args.out.resolve()
    if args.figure:
        canvas_figure(Path(args.figure))
    rows = [run(v, args) for v in args.variants.split(",")]
    lines = [
        "| recipe | epochs (steps) | test mAP@[.5:.95] | test mAP@0.5 | test mAP@0.75 | fit s | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(
            f"| {r['variant']} | {r['epochs']} ({r['steps']}) | {fmt(r['test_map'])} | {fmt(r['test_map_50'])} | "
            f"{fmt(r['test_map_75'])} | {r['fit_seconds']} | {r['wall_seconds']} |"
        )
    text = (
        "\n".join(lines)
        + "\n\n"
        + "\n".join(
            f"- {r['variant']}: val mAP@0.5 by epoch {r['val_map50_curve']}; val mAP {r['val_map_curve']}\n"
            f"  `{r['command']}`"
            for r in rows
        )
    )
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "detection_results.md").write_text(text + "\n")
    (args.out / "detection_results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
