"""Checkpoint files that are either complete or absent, for every save path of a run.

``AtomicCheckpointIO`` is the trainer's ``CheckpointIO`` plugin (``cli.py`` adds it to ``trainer.plugins``), so
Lightning's own ``ModelCheckpoint`` saves, ``trainer.save_checkpoint`` (preemption, ``PeriodicCheckpoint``) and a
user's callbacks all write through it: a temporary file in the SAME folder, flushed and fsynced, renamed over the
final name with ``os.replace`` (atomic on one filesystem), then the folder fsynced so the rename survives a crash.
A failed write removes the temporary file and leaves the previous checkpoint of that name intact.

Under DDP only rank 0 writes; the other ranks must still learn of its failure instead of waiting in the next
collective until a timeout. The plugin therefore records rank 0's failure and returns, and ``check_writes``
(called by every rank after each save: ``save`` below and ``callbacks.checkpoint.LabModelCheckpoint``) broadcasts
it, so all ranks raise the same one-line error at the same point.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch import Trainer
from lightning.pytorch.plugins import TorchCheckpointIO

from labcore.errors import LabError


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems (and Windows) cannot open a folder: the rename itself is done
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose writes are atomic and durable (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: str | None = None  # rank 0's failed write under DDP, until ``check_writes`` reports it

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if "://" in str(path):  # remote storage (s3://, gs://, ...): fsspec's own transaction
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(checkpoint, target)
        except OSError as err:
            kept = "the previous one is intact" if target.exists() else "no earlier one existed"
            message = (
                f"could not write checkpoint {target} ({err.strerror or type(err).__name__}); {kept}; "
                "free space or pass another --runs_dir"
            )
            if _distributed():
                self.failure = message  # the other ranks learn it from check_writes
                return
            raise LabError(message) from None


def write_atomically(obj: Any, target: Path) -> None:
    """``torch.save(obj)`` to ``target`` through a temporary file beside it (removed again on any failure)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def install(plugins: Any) -> list[Any]:
    """``trainer.plugins`` with an ``AtomicCheckpointIO`` added, unless the user passed a CheckpointIO of their own."""
    from lightning.fabric.plugins import CheckpointIO

    given = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    if not any(isinstance(p, CheckpointIO) for p in given):
        given.append(AtomicCheckpointIO())
    return given


def check_writes(trainer: Trainer) -> None:
    """Every rank: raise rank 0's failed checkpoint write (one broadcast under DDP, nothing otherwise)."""
    io = trainer.strategy.checkpoint_io
    if not isinstance(io, AtomicCheckpointIO):
        return
    failure = io.failure
    if trainer.world_size > 1 and _distributed():
        failure = trainer.strategy.broadcast(failure, src=0)
    io.failure = None
    if failure is not None:
        raise LabError(failure)


def save(trainer: Trainer, path: str | Path, weights_only: bool = False) -> None:
    """``trainer.save_checkpoint`` (all ranks call it), then every rank learns whether rank 0's write failed."""
    trainer.save_checkpoint(path, weights_only)
    check_writes(trainer)
