"""One run directory for all the ranks an external launcher starts (torchrun, srun).

Lightning's own launchers (``ddp``, ``ddp_spawn``) start the other ranks from a process that has
already chosen its run directory and hand it on (``cli.py``: ``DL_LABS_RUN_VERSION``). torchrun and
srun start every rank alike, before any process group exists, so each would claim a
``version_N`` of its own. Here they agree instead:

- torchrun (``TORCHELASTIC_USE_AGENT_STORE=True``): global rank 0 claims the next ``version_N``
  and publishes it in the key-value store torchrun's agent serves at ``MASTER_ADDR:MASTER_PORT``
  for the whole launch; the other ranks, on any node, read it there. An elastic restart of the
  workers (``TORCHELASTIC_RESTART_COUNT``) is a new run.
- srun without torchrun (``SLURM_NTASKS`` > 1): the directory is named after the job step,
  ``slurm-<SLURM_JOB_ID>.<SLURM_STEP_ID>``, known to every task without talking to the others;
  a requeued job (same id) finds its own directory again, so the batch script can resume from
  ``<runs_dir>/<lab>/slurm-$SLURM_JOB_ID.0/checkpoints/last.ckpt``.

Either way the ranks write into one directory, so ``--runs_dir`` must be on storage every node
shares (only rank 0 writes checkpoints, figures and summaries there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta

from labcore.errors import LabError

STORE_KEY = "dl_labs/run_version"
WAIT_SECONDS = float(os.environ.get("DL_LABS_RUN_DIR_TIMEOUT", "600"))


def launch_version(claim: Callable[[], str]) -> str | None:
    """The run version every rank of this launch uses, or None when no external launcher started
    several ranks (then the caller claims one for this process alone). ``claim()`` makes a new
    ``version_N`` directory and returns its name; only global rank 0 calls it."""
    env = os.environ
    if env.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and int(env.get("WORLD_SIZE", "1")) > 1:
        return _torchrun_version(claim)
    if "TORCHELASTIC_RUN_ID" not in env and int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        return f"slurm-{env.get('SLURM_JOB_ID', 'job')}.{env.get('SLURM_STEP_ID', '0')}"
    return None


def _torchrun_version(claim: Callable[[], str]) -> str:
    from torch.distributed import TCPStore  # only under torchrun: importing the base stays light

    env = os.environ
    addr, port = env["MASTER_ADDR"], int(env["MASTER_PORT"])
    key = f"{STORE_KEY}/{env.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    store = TCPStore(addr, port, is_master=False, timeout=timedelta(seconds=WAIT_SECONDS))
    if env.get("RANK", "0") == "0":
        version = claim()
        store.set(key, version)
        return version
    try:
        return store.get(key).decode()  # blocks until rank 0 has claimed
    except RuntimeError as err:  # the store's timeout (rank 0 failed before claiming, or is far behind)
        raise LabError(
            f"rank {env.get('RANK')}: rank 0 announced no run directory within {WAIT_SECONDS:.0f} s "
            f"(torchrun store {addr}:{port}); see rank 0's error, or raise DL_LABS_RUN_DIR_TIMEOUT"
        ) from err
