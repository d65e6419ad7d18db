"""Checkpoint writes that never leave a truncated file under the final name.

Lightning 2.6.6's ``_atomic_save`` serialises to memory, then writes through an fsspec transaction,
whose local files are written to ``tempfile.mkstemp()`` (the system temp folder) and moved with
``shutil.move``: when that folder is another filesystem the move is a copy into the final name, and a
full disk leaves a truncated ``last.ckpt``. Here the file is written under a temporary name in the
SAME folder and renamed with ``os.replace`` (atomic on one filesystem) only once complete.
"""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch import Trainer

from labcore.errors import LabError


def save_atomically(trainer: Trainer, filepath: str | Path, weights_only: bool = False) -> None:
    """``trainer.save_checkpoint(filepath)``, atomically: ``.<name>.partial`` beside it, then ``os.replace``.
    A failed write (full disk, quota, permissions) removes the partial file, keeps the previous
    checkpoint of that name intact and raises a one-line ``LabError``."""
    path = Path(filepath)
    tmp = path.with_name(f".{path.name}.partial")
    failure: OSError | None = None
    try:
        trainer.save_checkpoint(tmp, weights_only)  # every rank calls it; rank 0 writes (collective under DDP)
    except OSError as err:
        failure = err
    if trainer.is_global_zero:
        if failure is None:
            try:
                os.replace(tmp, path)
            except OSError as err:
                failure = err
        if failure is not None:
            tmp.unlink(missing_ok=True)
    if failure is not None:
        kept = "the previous one is intact" if path.exists() else "no earlier one existed"
        reason = failure.strerror or type(failure).__name__
        raise LabError(
            f"could not write checkpoint {path} ({reason}); {kept}; free space or pass another --runs_dir"
        ) from None
