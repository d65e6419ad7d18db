"""The default process group destroyed at exit, while the interpreter is still whole."""

from __future__ import annotations

import atexit
import sys

import torch.distributed as dist

_registered = False


def destroy_at_exit() -> None:
    """Register ``torch.distributed.destroy_process_group`` to run at this process's exit (once per process).

    A process that exits with its gloo process group alive leaves gloo's worker threads holding tensors; the
    interpreter's finalisation then frees them when the GIL can no longer be taken and the process aborts
    (SIGABRT, "terminate called without an active exception"; pytorch/pytorch#179291). Lightning never destroys
    the group in the processes ``ddp_spawn`` starts: under load one of them aborted after a finished
    ``validate``. atexit handlers run before that finalisation, in spawned processes too.
    """
    global _registered
    if not _registered:
        atexit.register(_destroy)
        _registered = True


def _destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except (RuntimeError, ValueError) as err:  # at exit nothing is left to save: say it (any rank), go on
            print(f"[dl-labs] could not destroy the process group at exit: {err}", file=sys.stderr)
