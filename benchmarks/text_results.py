"""Text-classification results on the real data, beside the reports' numbers.

    python benchmarks/text_results.py --trainer-accelerator auto [--only trec_finetune,bow] [--quick] [--out DIR]
        [--data-root ../shared/data]

Runs each lab through ``cli.py`` (one process per run, ``--test_after_fit true``) on the copies in
``--data-root`` (``shared/data/MANIFEST.md``): TREC-6 with the official 500-question test set,
rt_polarity with the seeded 80/10/10 split, and the IMDB sample for the cross-set table (train on
rt_polarity, test on both, fine-tune that checkpoint on IMDB, test on both). ``--quick`` uses tiny
limits (a smoke test of this script, not results). Writes ``results.md`` and the runs under ``--out``.
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

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "cli.py"
LABS = ROOT / "configs" / "labs" / "text"
QUICK = [
    "--trainer.max_epochs",
    "1",
    "--trainer.limit_train_batches",
    "2",
    "--trainer.limit_val_batches",
    "1",
    "--trainer.limit_test_batches",
    "1",
    "--trainer.num_sanity_val_steps",
    "0",
]

# name -> (config, data, reported by the reports, target here)
RUNS = {
    "trec_finetune": ("trec_finetune", "trec", "R4 0.995 (fine label leaked)", 0.95),
    "trec_transformer": ("trec_transformer", "trec", "R4 val 0.904 (leaky)", 0.85),
    "trec_prefix_tuning": ("trec_prefix_tuning", "trec", "R4 val 0.672 after 100 ep", 0.85),
    "trec_prefix_head_only": ("trec_prefix_tuning", "trec", "-", None),
    "sentiment_rnn": ("sentiment_rnn", "rt", "R3 0.885-0.890 (IMDB), R2-L15 LSTM 0.8580", None),
    "sentiment_rnn_gru": ("sentiment_rnn", "rt", "R3 0.883 (IMDB), R2-L15 GRU 0.8615", None),
    "bow": ("sentiment_bow_mlp", "rt", "R0 0.80 (set 1)", None),
    "embedding": ("sentiment_bow_mlp_embedding", "rt", "R0 0.87 (set 1)", None),
    "bert_gru": ("sentiment_bert_gru", "rt", "R1 0.9230 (IMDB)", None),
}
EXTRA = {
    "trec_prefix_head_only": ["--model.init_args.net.init_args.prefix_length", "0"],
    "sentiment_rnn_gru": ["--model.init_args.net.init_args.cell", "gru"],
}
CROSS = {"bow": "R0 bow: 0.80 / 0.76 -> 0.80 / 0.88", "embedding": "R0 bert: 0.87 / 0.81 -> 0.83 / 0.89"}
PREDICT = ["Justice League is terrible. I hated it.", "Avengers was great!!"]


def data_args(kind: str, root: Path) -> list[str]:
    if kind == "trec":
        return ["--data.init_args.dataset", "trec", "--data.init_args.path", str(root / "trec")]
    if kind == "rt":
        return ["--data.init_args.dataset", "rt_polarity", "--data.init_args.path", str(root / "rt_polarity")]
    return [
        "--data.init_args.dataset",
        "imdb",
        "--data.init_args.path",
        str(root / "imdb_sample" / "imdb_small.csv.gz"),
        "--data.init_args.text_column",
        "review",
        "--data.init_args.label_column",
        "sentiment",
    ]


class Runner:
    def __init__(self, out: Path, common: list[str]) -> None:
        self.out, self.common = out, common

    def __call__(self, name: str, sub: str, config: str, args: list[str]) -> dict:
        cmd = [
            sys.executable,
            str(CLI),
            sub,
            "--config",
            str(LABS / f"{config}.yaml"),
            *args,
            *self.common,
            "--runs_dir",
            str(self.out),
            "--lab",
            name,
            "--trainer.enable_progress_bar",
            "false",
        ]
        if sub == "fit":
            cmd += ["--test_after_fit", "true"]
        env = {k: v for k, v in os.environ.items() if k != "DL_LABS_RUN_VERSION"}
        self.out.mkdir(parents=True, exist_ok=True)
        log = self.out / f"{name}.log"
        print(f"[text_results] {name}: {shlex.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        with open(log, "w") as f:
            rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        if rc != 0:
            tail = " | ".join(log.read_text().strip().splitlines()[-3:])
            print(f"[text_results] {name} FAILED (exit {rc}), see {log}: {tail}", flush=True)
            return {}
        runs = sorted((self.out / name).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
        summary_file = runs[-1] / "summary.json" if runs else None
        summary = (
            json.loads(summary_file.read_text()) if summary_file and summary_file.exists() else {}
        )  # predict writes none
        summary["run_dir"] = str(runs[-1]) if runs else ""
        summary["seconds"] = round(time.perf_counter() - start, 1)
        return summary


def acc(summary: dict) -> float | None:
    value = (summary.get("test") or {}).get("test/acc")
    return float(value) if value is not None else None


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--only", default=None, help=f"comma-separated subset of {sorted(RUNS)} (+ cross, predict)")
    p.add_argument("--quick", action="store_true", help="tiny limits: checks the script, not results")
    p.add_argument("--out", default=None)
    p.add_argument("--trainer-accelerator", "--trainer.accelerator", dest="accelerator", default="auto")
    args = p.parse_args(argv)
    root = Path(args.data_root).resolve()
    if not (root / "trec").exists():
        print(f"error: no trec/ under {root}; pass --data-root (the shared/data folder)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else ROOT / "runs" / "text_results" / time.strftime("%Y%m%d-%H%M%S")
    common = ["--trainer.accelerator", args.accelerator] + (QUICK if args.quick else [])
    run = Runner(out, common)
    only = set(args.only.split(",")) if args.only else set(RUNS) | {"cross", "predict"}
    unknown = only - set(RUNS) - {"cross", "predict"}
    if unknown:
        print(f"error: unknown runs {sorted(unknown)}; choose from {sorted(RUNS)} + cross, predict", file=sys.stderr)
        return 2
    rows, results = [], {}
    for name, (config, data, reported, target) in RUNS.items():
        if (
            name not in only
            and not (name in CROSS and "cross" in only)
            and not (name == "bert_gru" and "predict" in only)
        ):
            continue
        s = run(name, "fit", config, data_args(data, root) + EXTRA.get(name, []))
        results[name] = s
        a = acc(s)
        ok = "" if target is None or a is None else (" (pass)" if a >= target else " (BELOW TARGET)")
        rows.append(
            f"| {name} | {'TREC-6 official test (500)' if data == 'trec' else 'rt_polarity 80/10/10 test'} | "
            f"{fmt(a)}{ok} | {'>= ' + format(target, '.2f') if target else '-'} | {reported} | "
            f"{s.get('trainable_params', 'n/a')} / {s.get('params', 'n/a')} | {s.get('fit_seconds', 'n/a')} |"
        )
    lines = [
        "| run | test data | test acc | target | reported | trainable / total params | fit s |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    if "cross" in only:
        lines += [
            "",
            "Cross-set (train on rt_polarity = set 1, fine-tune on the IMDB sample = set 2):",
            "",
            "| model | rt before | IMDB before | rt after | IMDB after | reported (set1/set2 before -> after) |",
            "|---|---|---|---|---|---|",
        ]
        for name in CROSS:
            s = results.get(name) or {}
            ckpt = s.get("best_checkpoint")
            if not ckpt:
                lines.append(f"| {name} | n/a | n/a | n/a | n/a | {CROSS[name]} |")
                continue
            config = RUNS[name][0]
            imdb_before = acc(run(f"{name}_on_imdb", "test", config, data_args("imdb", root) + ["--ckpt_path", ckpt]))
            tuned = run(
                f"{name}_ft_imdb",
                "fit",
                config,
                data_args("imdb", root)
                + ["--data.init_args.from_checkpoint", ckpt, "--model.init_args.weights_from", ckpt],
            )
            tuned_ckpt = tuned.get("best_checkpoint")
            rt_after = (
                acc(run(f"{name}_ft_on_rt", "test", config, data_args("rt", root) + ["--ckpt_path", tuned_ckpt]))
                if tuned_ckpt
                else None
            )
            lines.append(
                f"| {name} | {fmt(acc(s))} | {fmt(imdb_before)} | {fmt(rt_after)} | {fmt(acc(tuned))} | {CROSS[name]} |"
            )
    if "predict" in only and (results.get("bert_gru") or {}).get("best_checkpoint"):
        s = run(
            "bert_gru_predict",
            "predict",
            "sentiment_bert_gru",
            data_args("rt", root)
            + [
                "--ckpt_path",
                results["bert_gru"]["best_checkpoint"],
                "--data.init_args.predict_texts",
                json.dumps(PREDICT),
            ],
        )
        csv_path = Path(s.get("run_dir", "")) / "predictions.csv"
        if csv_path.exists():
            import csv

            lines += [
                "",
                "sentiment_bert_gru predict (R1: first low, second high):",
                "",
                "| sentence | P(positive) |",
                "|---|---|",
            ]
            for text, row in zip(PREDICT, csv.DictReader(open(csv_path))):
                p_pos = float(row["prob"]) if row["pred_name"] == "positive" else 1 - float(row["prob"])
                lines.append(f"| {text} | {p_pos:.4f} |")
    table = "\n".join(lines)
    header = (
        f"# Text classification results{' (QUICK: tiny limits, not results)' if args.quick else ''}\n\n"
        f"`python benchmarks/text_results.py {shlex.join(argv if argv is not None else sys.argv[1:])}`\n\n"
    )
    (out / "results.md").write_text(header + table + "\n")
    print(table)
    print(f"[text_results] wrote {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
