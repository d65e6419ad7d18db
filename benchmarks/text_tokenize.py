"""Tokenise + numericalise throughput: the ``tokenizers`` path vs the reports' Python loop.

    python benchmarks/text_tokenize.py [--dataset imdb|rt_polarity|trec] [--repeat 3]

Both build the vocabulary on the texts, then turn every text into ids; the loop is what the
reports did (``re.findall`` per text + a dict lookup per token). Both give identical ids
(checked here). Prints texts/s of each and the ratio, from one run.

Measured on a 2-core machine the ``tokenizers`` path is NOT faster on rt_polarity, IMDB and TREC
(with ``encode_batch_fast``, which skips offsets): a word-level split
is C-speed ``re`` plus dict lookups in CPython, and ``tokenizers``' per-token cost (normalized
strings, Encoding objects) only pays off with many cores (Rayon threads) or sub-word models.
Run it on the target machine before quoting a ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datamodules.text_readers import read_embedded  # noqa: E402
from datamodules.text_tokenizer import TextEncoder, build_vocab, python_loop_encode, python_loop_vocab  # noqa: E402


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="imdb", choices=["imdb", "rt_polarity", "trec"])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    splits = read_embedded(args.dataset)
    texts = (splits.get("all") or splits["train"])[0]

    def fast():
        enc = TextEncoder("vocab", build_vocab(texts), 0)
        return enc, enc.encode(texts)

    def loop():
        vocab = python_loop_vocab(texts)
        return vocab, python_loop_encode(texts, vocab)

    t_fast, (enc, ids_fast) = best_of(fast, args.repeat)
    t_loop, (vocab, ids_loop) = best_of(loop, args.repeat)
    same = enc.tokenizer.get_vocab() == vocab and all(a.tolist() == b for a, b in zip(ids_fast, ids_loop))
    tokens = sum(len(x) for x in ids_loop)
    print(f"{args.dataset}: {len(texts)} texts, {tokens} tokens, vocabulary {len(vocab)} (best of {args.repeat})")
    print("| path | seconds | texts/s | tokens/s |\n|---|---|---|---|")
    print(
        f"| tokenizers (build vocab + encode_batch_fast) | {t_fast:.3f} | "
        f"{len(texts) / t_fast:,.0f} | {tokens / t_fast:,.0f} |"
    )
    print(
        f"| python loop (re.findall + dict lookups) | {t_loop:.3f} | "
        f"{len(texts) / t_loop:,.0f} | {tokens / t_loop:,.0f} |"
    )
    print(
        f"own vocabulary speed-up (loop time / tokenizers time): {t_loop / t_fast:.2f}x; "
        f"identical vocabulary and ids: {same}"
    )


if __name__ == "__main__":
    main()
