"""The pieces of exact resume, without a training run: the resumable training loader and the signal record."""

from __future__ import annotations

import signal

import pytest
import torch

from datamodules.resumable import ResumableLoader, seeded_shuffle
from runtime import preemption


def _loader(n: int = 10) -> ResumableLoader:
    data = torch.arange(n)
    return ResumableLoader(data, batch_size=2, sampler=seeded_shuffle(data))


def _epoch(loader: ResumableLoader, epoch: int, take: int | None = None) -> list[list[int]]:
    loader.sampler.set_epoch(epoch)  # what Lightning does at every epoch start
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


def test_restored_loader_continues_mid_epoch_and_starts_later_epochs_whole():
    torch.manual_seed(0)
    full = _epoch(_loader(), 1)
    first = _loader()
    assert _epoch(first, 1, take=2) == full[:2]
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": 2}

    resumed = _loader()
    resumed.load_state_dict(state)
    assert _epoch(resumed, 1) == full[2:]  # the batches not yet trained on, in the same order
    assert len(resumed) == len(full)  # Lightning counts the skipped batches itself
    assert _epoch(resumed, 2) == _epoch(_loader(), 2)  # the next epoch is whole

    at_end = _loader()
    at_end.load_state_dict({"epoch": 1, "batches": len(full)})  # a checkpoint written at the epoch's end
    assert _epoch(at_end, 2) == _epoch(_loader(), 2)


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
