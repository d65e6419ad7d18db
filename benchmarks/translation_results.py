"""Translation results on the Tatoeba eng->fra pairs of ../shared/data, beside the reports' numbers.

    python benchmarks/translation_results.py [--data-root ../shared/data] [--budget-min 20] [--max-epochs 10]
        [--max-train-pairs N] [--max-eval-pairs N] [--only rnn,rnn_attention,transformer] [--out DIR]
        [--accelerator auto] [--threads 1] [--quick]

Trains the three labs (``configs/labs/seq2seq/translation_*.yaml``) through ``cli.py fit --test_after_fit
true`` on the full 76k-pair file (``path`` source, seeded split grouped by English sentence), each with
``--budget-min / 3`` minutes of training at most (``trainer.max_time``), and prints test BLEU and chrF (sacrebleu),
greedy vs beam, perplexity and wall time per model; writes ``results.md`` under ``--out``. ``--quick``:
tiny limits (a smoke test of this script, not results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "cli.py"
LABS = ROOT / "configs" / "labs" / "seq2seq"
RUNS = {
    "rnn": ("translation_rnn", "R2-L16 no attention: train loss 1.921, no BLEU"),
    "rnn_attention": ("translation_rnn_attention", "R2-L16 attention: train loss 1.715, no BLEU"),
    "transformer": ("translation_transformer", "R2-L25: BLEU 0.3369 on its 5 training pairs"),
}
QUICK = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
         "--trainer.limit_test_batches", "1", "--trainer.num_sanity_val_steps", "0"]  # fmt: skip


def run(name: str, args: argparse.Namespace, out: Path) -> dict:
    config, reported = RUNS[name]
    minutes = max(1, int(args.budget_min / len(args.only)))
    cmd = [
        sys.executable, str(CLI), "fit", "--config", str(LABS / f"{config}.yaml"),
        "--data.init_args.path", str(Path(args.data_root) / "tatoeba_eng_fra" / "fra_first76037.txt.gz"),
        "--trainer.max_epochs", str(args.max_epochs),
        "--trainer.max_time", f"00:{minutes // 60:02d}:{minutes % 60:02d}:00",
        "--trainer.accelerator", args.accelerator, "--trainer.enable_progress_bar", "false",
        "--test_after_fit", "true", "--runs_dir", str(out), "--lab", name,
    ]  # fmt: skip
    if args.max_train_pairs:
        cmd += ["--data.init_args.max_train_pairs", str(args.max_train_pairs)]
    if args.max_eval_pairs:
        cmd += ["--data.init_args.max_eval_pairs", str(args.max_eval_pairs)]
    if args.quick:
        cmd += QUICK
    # one intra-op thread by default: on a CPU shared with other jobs, torch's default threads spin and one
    # training step of these small recurrent nets became ~50x slower (measured: 7.1 s vs 0.14 s)
    env = {
        **os.environ,
        "DL_LABS_RUN_VERSION": "",
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
    }
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"name": name, "reported": reported, "status": f"FAILED ({proc.returncode})", "wall_s": wall}
    runs = sorted((out / name).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    s = json.loads((runs[-1] / "summary.json").read_text())
    return {"name": name, "reported": reported, "status": "ok", "wall_s": wall, "fit_s": s.get("fit_seconds"),
            "epochs": s.get("epochs"), "best_val_bleu": s.get("best_score"), **s.get("test", {}),
            "run": str(runs[-1])}  # fmt: skip


def table(rows: list[dict]) -> str:
    head = ("| model | test BLEU greedy | test BLEU beam 5 | test chrF greedy | test chrF beam 5 | test ppl | epochs | "
            "wall (s) | reported |\n|---|---|---|---|---|---|---|---|---|\n")  # fmt: skip

    def f(r: dict, k: str) -> str:
        v = r.get(k)
        return f"{v:.2f}" if isinstance(v, (int, float)) else "-"

    return head + "".join(
        f"| {r['name']} | {f(r, 'test/bleu')} | {f(r, 'test/bleu_beam')} | {f(r, 'test/chrf')} "
        f"| {f(r, 'test/chrf_beam')} "
        f"| {f(r, 'test/ppl')} | {r.get('epochs', '-')} | {r['wall_s']:.0f} | {r['reported']} |\n"
        for r in rows
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--budget-min", type=float, default=30.0, help="training minutes for all models together")
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--max-train-pairs", type=int, default=None)
    p.add_argument("--max-eval-pairs", type=int, default=None, help="val and test pairs each (seeded subset)")
    p.add_argument("--only", default=",".join(RUNS))
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (OMP_NUM_THREADS)")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_translation"))
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    args.only = [n for n in args.only.split(",") if n]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = []
    for name in args.only:
        rows.append(run(name, args, out))
        print(json.dumps(rows[-1]), flush=True)
    md = table(rows) + f"\ntotal wall time {time.perf_counter() - start:.0f} s; command: {' '.join(sys.argv)}\n"
    (out / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
