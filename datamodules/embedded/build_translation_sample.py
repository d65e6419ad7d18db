"""Rebuild ``translation/tatoeba_eng_fra_sample.tsv.gz`` (deterministic):

    python datamodules/embedded/build_translation_sample.py ../shared/data

Whole English-sentence groups (every French translation of a sentence stays together) drawn
with a fixed seed until 15,000 pairs, written in the source file's order.
"""

from __future__ import annotations

import gzip
import random
import sys
from pathlib import Path

N_PAIRS = 15_000
OUT = Path(__file__).parent / "translation" / "tatoeba_eng_fra_sample.tsv.gz"


def main(shared: str) -> None:
    lines = gzip.open(Path(shared) / "tatoeba_eng_fra" / "fra_first76037.txt.gz").read().decode("utf-8").split("\n")
    lines = [ln for ln in lines if ln.strip()]
    groups: dict[str, list[int]] = {}
    for i, ln in enumerate(lines):
        groups.setdefault(ln.split("\t")[0], []).append(i)
    keys = sorted(groups)
    random.Random(0).shuffle(keys)
    keep: list[int] = []
    for k in keys:
        if len(keep) >= N_PAIRS:
            break
        keep += groups[k]
    OUT.parent.mkdir(exist_ok=True)
    data = ("\n".join(lines[i] for i in sorted(keep)) + "\n").encode("utf-8")
    OUT.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{OUT}: {len(keep)} pairs, {len({lines[i].split(chr(9))[0] for i in keep})} English sentences")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
