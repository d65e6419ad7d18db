"""Batch samplers for the full-batch gradient-descent lab."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler

from labcore.errors import LabError


class EqualChunks(Sampler[list[int]]):
    """The whole training set as ``chunks`` equal, consecutive index chunks per epoch.

    With ``trainer.accumulate_grad_batches == chunks`` one optimizer step sees every example
    once, and Lightning's ``loss / chunks`` on mean-reduced chunk losses sums to the exact
    full-batch mean gradient: ``sum_i mean_i / k == mean`` only when all chunks have the same
    size, hence the divisibility check. (Exact for nets whose forward does not depend on the
    batch composition, i.e. without BatchNorm in train mode.)
    """

    def __init__(self, n: int, chunks: int = 1) -> None:
        if chunks < 1 or n % chunks:
            divisors = [d for d in range(1, min(n, 64) + 1) if n % d == 0]
            raise LabError(
                f"full batch: {n} training examples do not split into {chunks} equal chunks; set "
                f"--trainer.accumulate_grad_batches to a divisor of {n} (e.g. {divisors[-4:]}) or "
                f"--data.init_args.max_train_samples to a multiple of {chunks}"
            )
        self.n, self.chunks = n, chunks
        self.size = n // chunks

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, self.n, self.size):
            yield list(range(start, start + self.size))

    def __len__(self) -> int:
        return self.chunks
