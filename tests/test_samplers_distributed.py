"""The batch samplers under DDP (sharded by the sampler Lightning injects) and their mid-epoch resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from datamodules.samplers import EqualChunks
from datamodules.text_batching import BucketBatchSampler
from labcore.errors import LabError

LENGTHS = (np.arange(203) * 7919) % 61 + 1  # 203 texts: does not divide by 2 ranks nor by the batch size


def _dist(rank: int, world: int = 2, n: int = len(LENGTHS), shuffle: bool = True) -> DistributedSampler:
    # What Lightning injects; its own order (shuffle, seed) must not matter to ours.
    return DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=123)


def _ranks(world: int = 2, epoch: int = 0, **kw) -> list[list[list[int]]]:
    out, batch_size = [], kw.pop("batch_size", 8)
    for rank in range(world):
        s = BucketBatchSampler(LENGTHS, batch_size, sampler=_dist(rank, world), **{"shuffle": True, **kw})
        s.set_epoch(epoch)
        out.append(list(s))
        assert len(out[-1]) == len(s)
    return out


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("bucket", [True, False])
@pytest.mark.parametrize("drop_last", [False, True])
def test_bucket_sampler_shards_equally_and_covers_the_set(shuffle, bucket, drop_last):
    per_rank = _ranks(shuffle=shuffle, bucket=bucket, drop_last=drop_last, pool_batches=3)
    assert len(per_rank[0]) == len(per_rank[1]) > 0  # DDP needs the same number of batches on every rank
    seen = [i for batches in per_rank for b in batches for i in b]
    if not drop_last:
        assert sorted(set(seen)) == list(range(len(LENGTHS)))
        assert len(seen) == 204  # padded to an even share: one example seen twice
    assert len(seen) - len(set(seen)) <= 1  # padding repeats at most world - 1 examples
    if bucket:  # bucketing kept inside each rank's share

        def spread(ranks):
            return np.mean([np.ptp(LENGTHS[b]) for batches in ranks for b in batches])

        plain = _ranks(shuffle=shuffle, bucket=False, drop_last=drop_last, pool_batches=3)
        assert spread(per_rank) < spread(plain) / 2


def test_bucket_sampler_epoch_order_is_seeded_and_the_same_on_every_rank_count():
    a, b = _ranks(epoch=3), _ranks(epoch=3)
    assert a == b
    assert _ranks(epoch=4) != a
    whole = BucketBatchSampler(LENGTHS, 8, shuffle=True)
    whole.set_epoch(3)
    plain = BucketBatchSampler(LENGTHS, 8, shuffle=True)
    for _ in range(4):  # iterating again without set_epoch moves to the next epoch
        last = list(plain)
    assert last == list(whole)


def test_lightning_can_inject_its_distributed_sampler():
    # What Lightning does to a DataLoader under DDP; before, it failed with
    # "missing 1 required positional argument: 'shuffle'" (BucketBatchSampler) / no `sampler` (EqualChunks).
    from lightning.fabric.utilities.data import _replace_dunder_methods
    from lightning.pytorch.utilities.data import _update_dataloader

    for make in (
        lambda: BucketBatchSampler(LENGTHS, 8, shuffle=True, seed=5),
        lambda: EqualChunks(len(LENGTHS) - 3, 4),
    ):
        with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
            loader = DataLoader(range(len(LENGTHS)), batch_sampler=make())
            loader.batch_sampler.epoch = 2  # what the datamodule sets on a resumed run; Lightning replays it
        injected = _update_dataloader(loader, _dist(1))
        bs = injected.batch_sampler
        assert type(bs) is type(loader.batch_sampler) and bs.rank == 1 and bs.num_replicas == 2
        assert bs.epoch == 2 and len(bs) == len(list(bs)) == len(injected)


def test_a_position_restored_in_the_dataloader_hook_survives_the_injection():
    # A resumer may restore the sampler where the datamodule builds it; Lightning replays it on the copy it makes.
    from lightning.fabric.utilities.data import _replace_dunder_methods
    from lightning.pytorch.utilities.data import _update_dataloader

    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        loader = DataLoader(range(len(LENGTHS)), batch_sampler=BucketBatchSampler(LENGTHS, 8, shuffle=True))
        loader.batch_sampler.load_state_dict({"epoch": 1, "batches_yielded": 3})
    bs = _update_dataloader(loader, _dist(0)).batch_sampler
    ref = BucketBatchSampler(LENGTHS, 8, shuffle=True, sampler=_dist(0))
    ref.set_epoch(1)
    assert list(bs) == list(ref)[3:]


def test_bucket_sampler_resumes_mid_epoch_where_it_stopped():
    for sampler in (None, _dist(1)):
        full = BucketBatchSampler(LENGTHS, 8, shuffle=True, seed=7, sampler=sampler)
        full.set_epoch(2)
        expected = list(full)
        stopped = BucketBatchSampler(LENGTHS, 8, shuffle=True, seed=7, sampler=sampler)
        stopped.set_epoch(2)
        it = iter(stopped)
        head = [next(it) for _ in range(5)]
        state = stopped.state_dict()
        assert state == {"epoch": 2, "batches_yielded": 5, "num_replicas": 1 if sampler is None else 2}
        resumed = BucketBatchSampler(LENGTHS, 8, shuffle=True, seed=7, sampler=sampler)
        resumed.load_state_dict(state)
        assert resumed.state_dict() == state  # restored, not yet iterated: the position is handed on
        assert head + list(resumed) == expected
        assert list(resumed) != expected and resumed.epoch == 4  # the skip applied once; epochs go on


def test_restored_position_is_dropped_when_another_epoch_starts():
    s = BucketBatchSampler(LENGTHS, 8, shuffle=True)
    s.load_state_dict({"epoch": 1, "batches_yielded": 3})
    s.set_epoch(2)  # e.g. the checkpoint was taken at an epoch's end
    ref = BucketBatchSampler(LENGTHS, 8, shuffle=True)
    ref.set_epoch(2)
    assert list(s) == list(ref)


def test_equal_chunks_shard_without_padding():
    per_rank = [list(EqualChunks(24, 3, sampler=_dist(r, 2, n=24))) for r in range(2)]
    assert [len(c) for batches in per_rank for c in batches] == [4] * 6
    assert sorted(i for batches in per_rank for c in batches for i in c) == list(range(24))
    with pytest.raises(LabError, match="on each of 2 processes.*accumulate_grad_batches"):
        EqualChunks(30, 2, sampler=_dist(0, 2, n=30))  # 30 = 2 x 15 does not split into 2 chunks per rank


def test_equal_chunks_resume():
    s = EqualChunks(12, 3)
    it = iter(s)
    next(it)
    r = EqualChunks(12, 3)
    r.load_state_dict(s.state_dict())
    assert list(r) == list(EqualChunks(12, 3))[1:]


def test_sharded_text_batches_match_the_one_process_epoch_as_a_set():
    # The two ranks' eval batches hold exactly the 1-process examples where the split divides evenly.
    lengths = LENGTHS[:200]
    one = BucketBatchSampler(lengths, 16, shuffle=False)
    two = [BucketBatchSampler(lengths, 16, shuffle=False, sampler=_dist(r, 2, 200, False)) for r in range(2)]
    assert sorted(i for b in one for i in b) == sorted(i for s in two for b in s for i in b) == list(range(200))
    assert torch.equal(torch.tensor([len(b) for b in two[0]]), torch.tensor([len(b) for b in two[1]]))


def test_predict_shards_are_not_padded():
    # For predict Lightning injects an "unrepeated" sampler: every example exactly once, shares may differ by one.
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSamplerWrapper
    from torch.utils.data import SequentialSampler

    seen = []
    for rank in range(2):
        inj = UnrepeatedDistributedSamplerWrapper(SequentialSampler(range(203)), num_replicas=2, rank=rank)
        s = BucketBatchSampler(LENGTHS, 8, shuffle=False, bucket=False, sampler=inj)
        seen += [i for b in s for i in b]
        assert len(list(s)) == len(s)
    assert sorted(seen) == list(range(203))
