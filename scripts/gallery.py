"""The lab gallery: run each lab's command briefly on its embedded data and keep the figures it draws.

    python scripts/gallery.py                          # every lab config under configs/labs/
    python scripts/gallery.py --labs mnist_mlp,vae     # some labs (their entries in index.json are replaced)

Each lab runs as ``cli.py fit --config configs/labs/<family>/<lab>.yaml --test_after_fit true`` with short
limits (``GALLERY_ARGS``) in a temporary runs folder, one process at a time. The PNGs of its run directory are
shrunk to at most ``--max-kb`` each (scaled down and reduced to a 256-colour palette) and copied to
``docs/gallery/<lab>/<name>.png``; ``docs/gallery/index.json`` maps each lab to
``[{file, caption, command, commit}]`` with the exact command and the commit that drew the figure.
The figures show what each lab draws, not trained results: the runs are a few batches long.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LABS_DIR = ROOT / "configs" / "labs"
# A few batches more than the tests' smoke limits: enough for every callback to draw (two epochs, so the
# "after training" figures differ from the "before" ones), small enough for all labs in minutes on a CPU.
GALLERY_ARGS = [
    "--trainer.max_epochs",
    "2",
    "--trainer.limit_train_batches",
    "4",
    "--trainer.limit_val_batches",
    "2",
    "--trainer.limit_test_batches",
    "2",
    "--trainer.limit_predict_batches",
    "1",
    "--trainer.num_sanity_val_steps",
    "0",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_model_summary",
    "false",
    "--trainer.accelerator",
    "cpu",
    "--data.init_args.source",
    "embedded",
]
# Labs that start from another lab's checkpoint: lab -> (the lab run first, the option given its best checkpoint).
NEEDS = {"transfer_learning": ("transfer_pretrain", "--model.init_args.net.init_args.weights")}
MAX_FIGURES = 12  # per lab: per-epoch series would otherwise dominate the folder
INDEX = "index.json"


def lab_configs() -> dict[str, Path]:
    """``{lab: config path}`` for every lab config (lab = the file's stem, unique across families)."""
    return {p.stem: p for p in sorted(LABS_DIR.rglob("*.yaml"))}


def commit() -> str:
    """The short commit of the working tree, with ``-dirty`` when tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode:
        return "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def shrink(src: Path, dst: Path, max_bytes: int) -> int:
    """Write ``src`` to ``dst`` as a palette PNG of at most ``max_bytes``, scaling down until it fits."""
    image = Image.open(src)
    image.load()
    if image.mode not in ("RGB", "L"):
        # figures have white backgrounds: flatten any alpha onto white
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.convert("RGBA").split()[-1])
        image = background
    scale = min(1.0, 1400 / max(image.size))
    while True:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        scaled = image.resize(size, Image.Resampling.LANCZOS) if scale < 1 else image
        palette = scaled.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        data = io.BytesIO()
        palette.save(data, format="PNG", optimize=True)
        if data.tell() <= max_bytes or min(size) <= 64:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data.getvalue())
            return data.tell()
        scale *= 0.8


def caption(lab: str, figure: str) -> str:
    """``test_confusion_matrix`` -> ``mnist_mlp: test confusion matrix ...``: the name the callback gave it."""
    return f"{lab}: {figure.replace('_', ' ')} (a short run on the embedded data)"


def shown_command(config: Path, extra: list[str]) -> str:
    """The command as a reader types it, from the repository root."""
    return shlex.join(
        ["python", "cli.py", "fit", "--config", str(config.relative_to(ROOT)), *GALLERY_ARGS, *extra]
        + ["--test_after_fit", "true"]
    )


def run_lab(
    lab: str, config: Path, runs: Path, extra: list[str], shown_extra: list[str], timeout: float
) -> tuple[Path | None, str]:
    """Run one lab; returns (its run directory or None when it failed, the command shown in the captions)."""
    cmd = [sys.executable, "cli.py", "fit", "--config", str(config), *GALLERY_ARGS, *extra]
    cmd += ["--test_after_fit", "true", "--runs_dir", str(runs), "--lab", lab, "--run_version", "gallery"]
    env = {k: v for k, v in os.environ.items() if k != "DL_LABS_RUN_VERSION"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", WANDB_MODE="offline", HF_HUB_OFFLINE="1")
    env.update(HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log = runs / f"{lab}.log"
    runs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as f:
        try:
            rc = subprocess.call(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"[gallery] {lab}: TIMED OUT after {timeout:.0f} s", flush=True)
            return None, ""
    seconds = time.perf_counter() - start
    run = runs / lab / "gallery"
    if rc:
        tail = " | ".join(log.read_text().strip().splitlines()[-3:])
        print(f"[gallery] {lab}: FAILED (exit {rc}, {seconds:.0f} s): {tail}", flush=True)
        return None, ""
    print(f"[gallery] {lab}: {seconds:.0f} s", flush=True)
    return run, shown_command(config, shown_extra)


def best_checkpoint(run: Path) -> str | None:
    summary = run / "summary.json"
    return json.loads(summary.read_text()).get("best_checkpoint") if summary.exists() else None


def collect(lab: str, run: Path, out: Path, command: str, sha: str, max_bytes: int) -> list[dict]:
    """Shrink the run's figures into ``out/<lab>/`` and return their index entries."""
    pngs = sorted(run.rglob("*.png"), key=lambda p: (p.stat().st_mtime, p.name))
    if len(pngs) > MAX_FIGURES:  # keep the first drawings (data, "before") and the last (after training)
        pngs = pngs[: MAX_FIGURES // 2] + pngs[-(MAX_FIGURES - MAX_FIGURES // 2) :]
    shutil.rmtree(out / lab, ignore_errors=True)
    entries = []
    for png in sorted(pngs, key=lambda p: p.name):
        dst = out / lab / png.name
        shrink(png, dst, max_bytes)
        entries.append(
            {"file": f"{lab}/{png.name}", "caption": caption(lab, png.stem), "command": command, "commit": sha}
        )
    return entries


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    configs = lab_configs()
    p.add_argument("--labs", default="", help="comma-separated lab names (config stems); default: every lab")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery", help="gallery folder (index.json, PNGs)")
    p.add_argument("--runs-dir", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    p.add_argument("--max-kb", type=int, default=150, help="size cap of each PNG")
    p.add_argument("--timeout", type=float, default=600, help="seconds one lab's run may take")
    args = p.parse_args(argv)
    names = [n for n in args.labs.split(",") if n] or list(configs)
    unknown = sorted(set(names) - set(configs))
    if unknown:
        print(f"error: --labs: unknown lab(s) {unknown}; choose from {', '.join(configs)}", file=sys.stderr)
        return 2
    out = args.out.resolve()
    index_path = out / INDEX
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    sha = commit()
    failed = []
    with tempfile.TemporaryDirectory(prefix="gallery-") as tmp:
        runs = (args.runs_dir or Path(tmp)).resolve()
        done: dict[str, Path] = {}
        # a lab another lab needs runs first (its own figures are collected too when it was asked for)
        order = dict.fromkeys([NEEDS[n][0] for n in names if n in NEEDS] + names)
        for lab in order:
            extra, shown_extra = [], []
            if lab in NEEDS:
                dep, option = NEEDS[lab]
                ckpt = best_checkpoint(done[dep]) if dep in done else None
                if ckpt is None:
                    print(f"[gallery] {lab}: skipped ({dep} did not finish)", flush=True)
                    failed.append(lab)
                    continue
                extra, shown_extra = [option, ckpt], [option, f"<best checkpoint of {dep}>"]
            if lab not in names and (runs / lab / "gallery" / "summary.json").exists():
                done[lab] = runs / lab / "gallery"  # a dependency finished by an earlier call into this --runs-dir
                continue
            shutil.rmtree(runs / lab / "gallery", ignore_errors=True)
            run, command = run_lab(lab, configs[lab], runs, extra, shown_extra, args.timeout)
            if run is None:
                failed.append(lab)
                continue
            done[lab] = run
            if lab in names:
                index[lab] = collect(lab, run, out, command, sha, args.max_kb * 1024)
                index_path.parent.mkdir(parents=True, exist_ok=True)
                index_path.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    sizes = [f.stat().st_size for f in out.rglob("*.png")]
    print(
        f"[gallery] {sum(len(v) for v in index.values())} figures of {len(index)} labs in {out}, "
        f"{sum(sizes) / 1e6:.1f} MB (largest {max(sizes, default=0) / 1024:.0f} KB)"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
