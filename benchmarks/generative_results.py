"""Results of the generative and dense-prediction labs beside the reports' numbers.

Runs each lab through the same CLI (``cli.py fit ... --test_after_fit true``) on the full data,
reads every run's ``summary.json`` / ``metrics.csv`` and writes a markdown table:

    python benchmarks/generative_results.py --out bench_gen            # everything, full data (GPU!)
    python benchmarks/generative_results.py --only dae,vae --out b     # some labs
    python benchmarks/generative_results.py --quick --out /tmp/b       # tiny limits, embedded data: checks it works

Full data: MNIST from ``--mnist`` (default ../shared/data/mnist), ISBI 2012 membrane from
``--membrane`` (default ../shared/data/isbi2012_membrane/train). CycleGAN uses the project's
unpaired MNIST / inverted-MNIST domains (embedded), the only A/B set with a known true mapping.
MNIST-FID is a Frechet distance in the features of the project's MNIST classifier
(lab_modules/assets), NOT Inception FID.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = [
    "--trainer.max_epochs",
    "2",
    "--trainer.limit_train_batches",
    "2",
    "--trainer.limit_val_batches",
    "1",
    "--trainer.limit_test_batches",
    "1",
    "--trainer.num_sanity_val_steps",
    "0",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_model_summary",
    "false",
]

# name -> (config, data kind, extra overrides, metrics shown, reported value and what it is)
LABS = {
    "dae": (
        "generative/denoising_ae.yaml",
        "mnist",
        [],
        ["test/psnr", "test/psnr_noisy", "test/ssim", "test/ssim_noisy"],
        "PSNR 18.57 dB",
    ),
    "dae_improved": (
        "generative/denoising_ae_improved.yaml",
        "mnist",
        [],
        ["test/psnr", "test/psnr_noisy", "test/ssim", "test/ssim_noisy"],
        "PSNR 18.57 dB (aim >= 22)",
    ),
    "vae": ("generative/vae.yaml", "mnist", [], ["test/nelbo", "test/recon", "test/kl"], "loss 139.27 per sample"),
    "vae_conv": (
        "generative/vae_conv.yaml",
        "mnist",
        [],
        ["test/nelbo", "test/recon", "test/kl"],
        "loss 139.27 per sample",
    ),
    "gan": ("generative/gan.yaml", "mnist", [], ["test/fid_mnist"], "images only"),
    "gan_dcgan": ("generative/gan_dcgan.yaml", "mnist", [], ["test/fid_mnist"], "images only"),
    "cyclegan": (
        "generative/cyclegan.yaml",
        "unpaired",
        [],
        ["test/psnr_ab", "test/psnr_ba", "test/l1_ab", "test/l1_ba", "test/cycle_l1"],
        "images only",
    ),
    "unet": (
        "dense/unet_segmentation.yaml",
        "membrane",
        ["--data.init_args.crop_size", "256"],
        ["test/dice", "test/iou", "test/dice_loss"],
        "train Dice loss 0.1683",
    ),
    "unet_smp": (
        "dense/unet_segmentation_smp.yaml",
        "membrane",
        ["--data.init_args.crop_size", "256"],
        ["test/dice", "test/iou", "test/dice_loss"],
        "train Dice loss 0.1683",
    ),
}


def data_args(kind: str, args: argparse.Namespace) -> list[str]:
    if args.quick or kind == "unpaired":
        return ["--data.init_args.source", "embedded"]
    path = Path(args.mnist if kind == "mnist" else args.membrane).expanduser().resolve()
    if not path.exists():
        sys.exit(f"error: no data at {path}; pass --{'mnist' if kind == 'mnist' else 'membrane'} DIR")
    return ["--data.init_args.path", str(path)]


def run_lab(name: str, args: argparse.Namespace, out: Path) -> Path:
    config, kind, extra, _, _ = LABS[name]
    runs = out / "runs"
    before = set((runs / name).glob("version_*"))
    cmd = [
        sys.executable,
        str(ROOT / "cli.py"),
        "fit",
        "--config",
        str(ROOT / "configs" / "labs" / config),
        *data_args(kind, args),
        *([] if args.quick else extra),
        "--trainer.accelerator",
        args.accelerator,
        *(QUICK if args.quick else []),
        *(["--trainer.max_epochs", str(args.max_epochs)] if args.max_epochs else []),
        "--test_after_fit",
        "true",
        "--runs_dir",
        str(runs),
        "--lab",
        name,
    ]
    print(f"[bench] {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    log = out / f"{name}.log"
    with open(log, "w") as f:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode
    new = sorted(set((runs / name).glob("version_*")) - before)
    if rc != 0 or not new:
        raise RuntimeError(f"{name} failed (exit {rc}); see {log}")
    print(f"[bench] {name}: done in {time.perf_counter() - t0:.0f} s -> {new[-1]}", flush=True)
    return new[-1]


def epoch_series(run: Path, metric: str) -> list[tuple[int, float]]:
    path = run / "metrics.csv"
    if not path.exists():
        return []
    with open(path) as f:
        return [(int(float(r["epoch"])), float(r[metric])) for r in csv.DictReader(f) if r.get(metric)]


def fmt(v) -> str:
    return "" if v is None else (f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}") if isinstance(v, float) else str(v)


def report(results: dict[str, Path], quick: bool) -> str:
    lines = [
        "# Generative and dense-prediction labs: results",
        "",
        (
            "QUICK MODE: tiny limits on embedded data; these numbers only show that the pipeline works."
            if quick
            else "Full data, one run each (seed 42), best checkpoint by the task's monitored metric, tested after fit."
        ),
        "",
        "| lab | config | metric | ours | report | epochs | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run in results.items():
        config, _, _, metrics, reported = LABS[name]
        summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
        test = summary.get("test", {})
        for i, m in enumerate(metrics):
            lines.append(
                f"| {name if i == 0 else ''} | {config if i == 0 else ''} | {m} | {fmt(test.get(m))} | "
                f"{reported if i == 0 else ''} | {summary.get('epochs', '') if i == 0 else ''} | "
                f"{summary.get('fit_seconds', '') if i == 0 else ''} |"
            )
    gans = {n: epoch_series(r, "val/fid_mnist") for n, r in results.items() if n.startswith("gan")}
    if gans:
        epochs = sorted({e for s in gans.values() for e, _ in s})
        lines += [
            "",
            "MNIST-FID (val, lower is better; classifier features, not Inception) over epochs:",
            "",
            "| epoch | " + " | ".join(gans) + " |",
            "|---|" + "---|" * len(gans),
        ]
        for e in epochs:
            lines.append(f"| {e} | " + " | ".join(fmt(dict(s).get(e)) for s in gans.values()) + " |")
    lines += ["", "Run directories (figures in <run>/figures): " + ", ".join(f"{n}: `{r}`" for n, r in results.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(LABS)}")
    p.add_argument("--quick", action="store_true", help="tiny limits on embedded data (a smoke test, not results)")
    p.add_argument("--out", default="bench_generative", help="output folder (runs/, logs, generative_results.md)")
    p.add_argument("--mnist", default="../shared/data/mnist")
    p.add_argument("--membrane", default="../shared/data/isbi2012_membrane/train")
    p.add_argument("--accelerator", default="auto")
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="a shorter schedule than the configs' (e.g. cyclegan on a CPU); the table then says so",
    )
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(LABS)
    unknown = [n for n in names if n not in LABS]
    if unknown:
        p.error(f"unknown lab(s) {unknown}; choose from {','.join(LABS)}")
    out = Path(args.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    results, failed = {}, []
    for name in names:
        try:
            results[name] = run_lab(name, args, out)
        except RuntimeError as err:
            print(f"[bench] {err}", file=sys.stderr)
            failed.append(name)
    text = report(results, args.quick)
    (out / "generative_results.md").write_text(text)
    print(text)
    print(f"[bench] wrote {out / 'generative_results.md'}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
