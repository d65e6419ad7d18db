"""The pieces of exact resume, without a training run: the resumable training loader and the signal record."""

from __future__ import annotations

import signal

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from datamodules.resumable import ResumableLoader, SeededFetch
from datamodules.samplers import ShuffledBatches, WeightedBatches
from runtime import preemption


def _loader(n: int = 10, workers: int = 0, batch_size: int = 2) -> ResumableLoader:
    data = torch.arange(n)
    order = ShuffledBatches(n, batch_size, seed=torch.initial_seed())
    return ResumableLoader(data, batch_sampler=order, num_workers=workers, persistent_workers=workers > 0)


def _epoch(loader: DataLoader, epoch: int, take: int | None = None) -> list[list[int]]:
    loader.batch_sampler.sampler.set_epoch(epoch)  # what Lightning does at every epoch start
    out = []
    for batch in loader:
        out.append(batch.tolist())
        if take is not None and len(out) == take:
            break
    return out


def test_order_follows_seed_and_epoch_not_the_global_rng():
    torch.manual_seed(3)
    a = _epoch(_loader(), 1)
    torch.manual_seed(3)
    torch.rand(100)  # random numbers drawn before the loader is built change nothing
    assert _epoch(_loader(), 1) == a
    assert _epoch(_loader(), 2) != a


@pytest.mark.parametrize("world", [1, 3])
def test_shuffled_batches_keep_the_order_the_distributed_sampler_gave(world):
    # The training order of every lab is unchanged by the move to a batch sampler (same published numbers).
    def dist(rank: int) -> DistributedSampler:
        return DistributedSampler(range(11), num_replicas=world, rank=rank, shuffle=True, seed=1234)

    for rank in range(world):
        theirs, ours = dist(rank), ShuffledBatches(11, 2, seed=1234, sampler=dist(rank) if world > 1 else None)
        for epoch in (0, 3):
            theirs.set_epoch(epoch), ours.set_epoch(epoch)
            assert list(ours) == list(BatchSampler(theirs, 2, drop_last=False))
            assert len(ours) == len(BatchSampler(theirs, 2, drop_last=False))


def test_restored_loader_continues_mid_epoch_and_starts_later_epochs_whole():
    torch.manual_seed(0)
    full = _epoch(_loader(), 1)
    first = _loader()
    assert _epoch(first, 1, take=2) == full[:2]
    state = first.state_dict()
    assert state == {"batch_sampler": {"epoch": 1, "batches_yielded": 2, "num_replicas": 1}}

    resumed = _loader()
    resumed.load_state_dict(state)
    assert _epoch(resumed, 1) == full[2:]  # the batches not yet trained on, in the same order
    assert len(resumed) == len(full)  # Lightning counts the skipped batches itself
    assert _epoch(resumed, 2) == _epoch(_loader(), 2)  # the next epoch is whole

    at_end = _loader()
    at_end.load_state_dict({"epoch": 1, "batches": len(full)})  # the form older checkpoints hold, at an epoch's end
    assert _epoch(at_end, 2) == _epoch(_loader(), 2)


def test_with_workers_the_saved_position_is_the_batches_handed_out_not_those_read_ahead():
    # Before: 7 saved after 3 consumed (2 workers x prefetch 2 index lists read ahead), so a resume skipped 4
    # batches never trained on.
    torch.manual_seed(0)
    full = _epoch(_loader(40, workers=0), 1)
    first = _loader(40, workers=2)
    assert _epoch(first, 1, take=3) == full[:3]
    assert first.state_dict()["batch_sampler"]["batches_yielded"] == 3
    resumed = _loader(40, workers=2)
    resumed.load_state_dict(first.state_dict())
    assert _epoch(resumed, 1) == full[3:]


def test_with_workers_the_epoch_is_read_when_batches_are_asked_for_not_at_iter():
    # Lightning calls iter() on the training loader before set_epoch; a worker iterator built at iter() read
    # the previous epoch's index lists ahead.
    torch.manual_seed(0)
    want = _epoch(_loader(20, workers=0), 2)
    resumed = _loader(20, workers=2)
    resumed.load_state_dict({"batch_sampler": {"epoch": 1, "batches_yielded": 10}})  # written at epoch 1's end
    it = iter(resumed)
    resumed.batch_sampler.sampler.set_epoch(2)
    assert [b.tolist() for b in it] == want


def test_weighted_draws_follow_the_epoch_and_resume_mid_epoch():
    weights = torch.tensor([1.0] * 30 + [10.0] * 5)

    def loader() -> ResumableLoader:
        return ResumableLoader(torch.arange(35), batch_sampler=WeightedBatches(weights, 4, seed=9))

    full = {e: _epoch(loader(), e) for e in (0, 1, 2)}
    assert full[1] != full[0] and full[2] != full[1]  # new draws every epoch
    first = loader()
    for e in (0, 1):  # one run: epoch 0 whole, then 3 batches of epoch 1
        assert _epoch(first, e, take=None if e == 0 else 3) == full[e][: None if e == 0 else 3]
    resumed = loader()
    resumed.load_state_dict(first.state_dict())
    # before: a plain WeightedRandomSampler restarted at epoch 0's draws and could not skip
    assert _epoch(resumed, 1) == full[1][3:]
    assert _epoch(resumed, 2) == full[2]


class _Noisy(torch.utils.data.Dataset):
    """Draws from torch's global generator as it reads, as augmentation and the denoising noise do."""

    random_reads = True

    def __len__(self) -> int:
        return 24

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        return torch.tensor(indices, dtype=torch.float) + torch.rand(len(indices))


def _noisy(workers: int = 0) -> ResumableLoader:
    order = ShuffledBatches(24, 4, seed=torch.initial_seed())
    return ResumableLoader(SeededFetch(_Noisy()), batch_sampler=order, num_workers=workers, collate_fn=lambda b: b)


def test_random_draws_of_a_batch_are_the_same_after_a_restart_and_with_workers():
    # Before: a batch drew from the global generator at read time, before the checkpoint's RNG state was
    # restored (at the first batch start), so a resumed denoising / augmented run saw other noise.
    torch.manual_seed(0)
    full = _epoch(_noisy(), 1)
    assert full != _epoch(_noisy(), 2)  # fresh draws every epoch
    first = _noisy()
    _epoch(first, 1, take=2)
    torch.rand(7)  # whatever a restart draws before the first batch
    before = torch.get_rng_state()
    resumed = _noisy()
    resumed.load_state_dict(first.state_dict())
    assert _epoch(resumed, 1) == full[2:]
    assert torch.equal(torch.get_rng_state(), before)  # the model's random numbers are left alone
    assert _epoch(_noisy(workers=2), 1) == full  # and the number of workers does not matter


def test_a_loader_without_a_stateful_batch_sampler_is_refused():
    with pytest.raises(TypeError, match="batch_sampler with state_dict"):
        ResumableLoader(torch.arange(4), batch_size=2)


def test_building_an_iterator_draws_nothing_from_the_global_rng():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    _epoch(_loader(), 0)
    assert torch.equal(torch.get_rng_state(), before)  # dropout after a restart sees the same random numbers


def test_copies_of_one_ctrl_c_are_one_interrupt_and_a_later_one_stops_at_once(monkeypatch):
    clock = iter([100.0, 100.2, 103.0])
    monkeypatch.setattr(preemption.time, "monotonic", lambda: next(clock))
    preemption.note(None)
    preemption._record(signal.SIGINT, None)
    preemption._record(signal.SIGINT, None)  # the launcher's forwarded copy, 0.2 s later
    assert preemption.received() == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        preemption._record(signal.SIGINT, None)  # pressed again 3 s later
    preemption.note(None)
