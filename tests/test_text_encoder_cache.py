"""The frozen-encoder output cache shared by concurrent runs: writers never corrupt each other's
entries and readers see whole entries only."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import torch

from lab_modules.nets.encoder_cache import CachedFrozenEncoder
from lab_modules.nets.pretrained import load_encoder

TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


def _encoder():
    torch.manual_seed(0)  # the same weights in every process, hence the same cache fingerprint
    return load_encoder(None, TINY_BERT, 60)


def _texts(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 60, (n, 12), generator=g)
    lengths = torch.randint(1, 13, (n,), generator=g)
    mask = (torch.arange(12)[None] < lengths[:, None]).long()
    return ids * mask, mask


def _check(out: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> None:
    for j in range(len(mask)):
        n = int(mask[j].sum())
        torch.testing.assert_close(out[j, :n], ref[j, :n], atol=1e-5, rtol=1e-5)


def _fill(cache_dir: str, rows: list[int], barrier) -> None:
    torch.set_num_threads(1)
    enc = _encoder()
    plain = CachedFrozenEncoder(enc)
    cached = CachedFrozenEncoder(enc, cache=True, cache_dir=cache_dir, cache_dtype="float32")
    ids, mask = _texts()
    barrier.wait()  # both processes open the empty cache at the same time
    for start in range(0, len(rows), 4):
        r = rows[start : start + 4]
        _check(cached(ids[r], mask[r]), plain(ids[r], mask[r]), mask[r])  # also entries the other process wrote


@pytest.mark.slow
def test_concurrent_writers_with_overlapping_keys(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    # overlapping halves, in opposite orders, so both write some keys the other writes too
    jobs = [list(range(0, 64)), list(range(95, 31, -1))]
    procs = [ctx.Process(target=_fill, args=(str(tmp_path), rows, barrier)) for rows in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    enc = _encoder()
    ids, mask = _texts()
    reader = CachedFrozenEncoder(enc, cache=True, cache_dir=str(tmp_path), cache_dtype="float32")
    _check(reader(ids, mask), CachedFrozenEncoder(enc)(ids, mask), mask)
    assert reader._cache.hits == len(ids) and reader._cache.misses == 0
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".npy"]  # no temp files left
