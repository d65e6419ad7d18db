"""Start-up cost: process start to the first optimizer step, vs ``python -c "import lightning"``.

    python benchmarks/startup.py [--repeats 5]

Runs `cli.py fit` on mnist_mlp (embedded data, default callbacks and loggers) in a fresh
process and takes the wall time from just before the process is started to the end of the
first training batch. Target: no more than 2 s over the bare `import lightning`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict) -> float:
    start = time.time()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - start


def first_step(env: dict, tmp: Path, i: int) -> float:
    marker = tmp / f"first_step_{i}"
    env = {**env, "DL_LABS_FIRST_STEP_FILE": str(marker)}
    cmd = [
        sys.executable,
        "cli.py",
        "fit",
        "--config",
        "configs/labs/vision/mnist_mlp.yaml",
        "--trainer.max_steps",
        "1",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.limit_val_batches",
        "0",
        "--trainer.callbacks+=benchmarks.first_step.FirstStepTime",
        "--runs_dir",
        str(tmp / "runs"),
    ]
    start = time.time()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return float(marker.read_text()) - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "DL_LABS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("DL_LABS_RUN_VERSION", None)
    with tempfile.TemporaryDirectory() as tmp:
        timed([sys.executable, "-c", "import lightning"], env)  # warm the file cache for both
        base, ours = [], []
        for i in range(args.repeats):  # alternate, so drift hits both alike
            base.append(timed([sys.executable, "-c", "import lightning"], env))
            ours.append(first_step(env, Path(tmp), i))
    b, o = statistics.median(base), statistics.median(ours)
    print(
        f"median of {args.repeats}: `import lightning` {b:.2f} s; cli.py fit to first optimizer step {o:.2f} s; "
        f"over by {o - b:.2f} s (target <= 2.00 s)"
    )


if __name__ == "__main__":
    main()
