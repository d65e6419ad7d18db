"""UNet augmentation: torchvision v2 (the lab's own joint transforms) vs an albumentations pipeline file
(``configs/augment/unet_elastic.yaml``: flips, rot90, elastic, grid distortion), Dice and IoU on the
membrane test split.

    python benchmarks/unet_augment.py --path ../shared/data/isbi2012_membrane/train
    python benchmarks/unet_augment.py --path ../shared/data/isbi2012_membrane/train --budget-min 8 --image-size 256

Each variant is ``cli.py fit --test_after_fit true`` of ``unet_segmentation.yaml`` (torchvision v2: crops,
flips, rot90, elastic p 0.3) or ``unet_segmentation_albumentations.yaml`` (the same net, loss, optimizer,
split and crops; the albumentations file instead of the v2 ops), stopped by ``--epochs`` or
``--budget-min`` minutes of training; the test (the last ``test_fraction`` of the slices, whole images)
runs on the best checkpoint by ``val/dice``. Prints test Dice / IoU, epochs, wall time and the command;
also writes ``<out>/unet_augment.md`` and ``.json``.
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

from commands.run_report import read_summary  # noqa: E402

VARIANTS = {"torchvision_v2": "unet_segmentation", "albumentations": "unet_segmentation_albumentations"}


def run(variant: str, args: argparse.Namespace) -> dict:
    config = Path("configs") / "labs" / "dense" / f"{VARIANTS[variant]}.yaml"
    cmd = [
        sys.executable,
        "cli.py",
        "fit",
        "--config",
        str(config),
        "--trainer.max_epochs",
        str(args.epochs),
        "--trainer.max_time",
        f"00:00:{args.budget_min:02d}:00",
        "--trainer.enable_progress_bar",
        "false",
        "--seed_everything",
        str(args.seed),
        "--test_after_fit",
        "true",
        "--runs_dir",
        str(args.out),
        "--lab",
        f"unet_{variant}",
    ]
    if args.path:
        cmd += ["--data.init_args.path", str(Path(args.path).resolve())]
    if args.image_size:
        cmd += ["--data.init_args.image_size", str(args.image_size)]
    if args.repeats:
        cmd += ["--data.init_args.repeats", str(args.repeats)]
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = time.time() - start
    run_dir = max((args.out / f"unet_{variant}").glob("version_*"), key=lambda p: p.stat().st_mtime)
    s = read_summary(run_dir)
    test = s.get("test", {})
    return {
        "variant": variant,
        "epochs": s.get("epochs"),
        "test_dice": test.get("test/dice"),
        "test_iou": test.get("test/iou"),
        "best_val_dice": s.get("best_score"),
        "fit_seconds": s.get("fit_seconds"),
        "wall_seconds": round(wall, 1),
        "command": shlex.join(["python", *cmd[1:]]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--path", default=None, help="membrane folder (image/ + label/); default: the embedded 30 slices")
    p.add_argument("--variants", default="torchvision_v2,albumentations")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--budget-min", type=int, default=60, help="training minutes per variant (max_time)")
    p.add_argument("--image-size", type=int, default=0, help="resize the slices on load (0: keep)")
    p.add_argument("--repeats", type=int, default=0, help="passes over the training slices per epoch (0: config)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_unet_augment")
    args = p.parse_args()
    args.out = args.out.resolve()
    rows = [run(v, args) for v in args.variants.split(",")]
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    lines = [
        "| augmentation | epochs | test Dice | test IoU | best val Dice | fit s | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['variant']} | {r['epochs']} | {fmt(r['test_dice'])} | {fmt(r['test_iou'])} | "
        f"{fmt(r['best_val_dice'])} | "
        f"{r['fit_seconds']} | {r['wall_seconds']} |"
        for r in rows
    ]
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {r['variant']}: `{r['command']}`" for r in rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "unet_augment.md").write_text(text + "\n")
    (args.out / "unet_augment.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
