"""SIGTERM / SIGINT during ``fit``: write ``last.ckpt`` at the next batch end, print one line, exit non-zero.

Why not Lightning's own handling: its SIGTERM handler only sets ``trainer.received_sigterm``, and the
loops then raise ``SIGTERMException``, a ``SystemExit`` with code 0, after writing nothing (its docs suggest
``OnExceptionCheckpoint``, which saves from ``on_exception`` at whatever point the loop stopped). Under DDP
it broadcasts rank 0's flag, so a signal that reaches another rank only stops that rank (the others wait in
the next collective), and the handler itself calls a collective. SIGINT is a ``KeyboardInterrupt``: it
saves nothing either.

Here the handlers only record the signal. At training batch ends the ranks agree (an all-reduce of
the flag every ``sync_every()`` steps, so one signalled rank is enough) and all stop after the same
step: the checkpoint callback writes ``last.ckpt`` (a mid-epoch checkpoint Lightning resumes from
exactly), rank 0 prints the line, and ``Preempted`` (a ``SystemExit`` with 128 + the signal number, the
shell's convention) ends the process.
A second SIGINT interrupts at once (``KeyboardInterrupt``), as Ctrl+C twice usually does.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch import Trainer

SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_CODES = tuple(128 + s for s in SIGNALS)  # how a process that stopped at one of them exits
# How this process was started, for the printed resume command (``set_program``; ``dl-labs`` when installed).
_program: list[str] = ["dl-labs"]

_received: int | None = None  # the first signal of this process, shared by every handler installed here
_received_at = 0.0
# Ctrl+C reaches every process of the terminal's process group, and the ddp_spawn launcher forwards it too:
# copies that close together are one interrupt, not the "second Ctrl+C".
SAME_EVENT_S = 1.0


class Preempted(SystemExit):
    """Training stopped at a signal after writing ``last.ckpt``; the exit code is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def received() -> int | None:
    """The signal this process received since ``install()`` (or None)."""
    return _received


def note(signum: int | None) -> None:
    """Record ``signum`` as received (None: forget any), e.g. a SIGTERM Lightning's handler caught first."""
    global _received
    _received = signum


def _record(signum: int, frame: FrameType | None) -> None:
    global _received, _received_at
    now = time.monotonic()
    if _received == signal.SIGINT and signum == signal.SIGINT and now - _received_at > SAME_EVENT_S:
        raise KeyboardInterrupt  # the second Ctrl+C: stop now, without the checkpoint
    if _received is None:
        _received, _received_at = signum, now


def _record_and_forward(signum: int, frame: FrameType | None) -> None:
    """The launching process of ``ddp_spawn``: record, and pass the signal on to the training processes."""
    import multiprocessing

    _record(signum, frame)
    for child in multiprocessing.active_children():
        if child.pid is not None:
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass


def install(forward: bool = False) -> dict[int, Any]:
    """Replace the SIGTERM / SIGINT handlers (main thread only); returns the previous ones for ``uninstall``."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _record_and_forward if forward else _record)
    return previous


def uninstall(previous: dict[int, Any]) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler if handler is not None else signal.SIG_DFL)


_forwarding: dict[int, Any] = {}


def start_forwarding() -> None:
    """In the process that launched ``ddp_spawn`` workers: record signals, pass them on (until ``stop_forwarding``)."""
    global _forwarding
    if not _forwarding:
        _forwarding = install(forward=True)


def stop_forwarding() -> None:
    global _forwarding
    uninstall(_forwarding)
    _forwarding = {}


SYNC_STEPS_ENV = "DL_LABS_SIGNAL_SYNC_STEPS"


def sync_every() -> int:
    """Under DDP the ranks compare their signals every this many steps (``$DL_LABS_SIGNAL_SYNC_STEPS``,
    default 10): an all-reduce and a host sync after every step would stall GPUs that otherwise run ahead
    of the host, and a scheduler's grace period (30 s or more) covers ten steps of any lab."""
    return max(1, int(os.environ.get(SYNC_STEPS_ENV, "10")))


def agreed_signal(trainer: Trainer) -> int | None:
    """The signal any rank received (the same answer on every rank: all stop at the same step). Under DDP
    it is only asked at every ``sync_every()``-th step (``global_step`` is the same on every rank)."""
    local = _received or 0
    if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
        if trainer.global_step % sync_every():
            return None
        flag = torch.tensor([local], device=trainer.strategy.root_device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        local = int(flag.item())
    return local or None


def set_program(program: list[str]) -> None:
    """The command that starts the CLI, e.g. ``["python", "/abs/cli.py"]`` or ``["dl-labs"]`` (``cli.main``)."""
    global _program
    _program = list(program)


def resume_command(run_dir: Path | None, ckpt: Path) -> str:
    """The exact command that continues this run in the same run directory, from any working directory."""
    config = run_dir / "config.yaml" if run_dir is not None else None
    parts = [*_program, "fit"]
    if config is not None and config.exists():
        parts += ["--config", str(config.resolve())]
    else:  # no saved config (a notebook / plain Trainer): the original command line, plus the checkpoint
        parts += [a for a in sys.argv[1:] if a != "fit"]
    parts += ["--ckpt_path", str(Path(ckpt).resolve())]
    return " ".join(shlex.quote(p) for p in parts)


def stop_line(signum: int, trainer: Trainer, ckpt: Path, run_dir: Path | None) -> str:
    name = signal.Signals(signum).name
    return (
        f"[dl-labs] {name}: stopped at epoch {trainer.current_epoch}, step {trainer.global_step} "
        f"(batch {trainer.fit_loop.epoch_loop.batch_idx + 1} of the epoch), checkpoint {ckpt}; resume with: "
        f"{resume_command(run_dir, ckpt)}"
    )


# --- Lightning internals (pinned by tests/test_runtime_private_api.py) ----------------------------------------
def forget_lightning_sigterm(trainer: Trainer) -> bool:
    """Take over a SIGTERM that Lightning's own handler caught before ours were installed: its loops would end
    the run with exit code 0 and no checkpoint. True when there was one (it is then ``received()`` here)."""
    if not trainer.received_sigterm:
        return False
    note(signal.SIGTERM)
    trainer._signal_connector.received_sigterm = False
    return True


def in_accumulation(trainer: Trainer, batch_idx: int) -> bool:
    """Whether the optimizer has not stepped after this batch (gradients accumulate): no checkpoint holds them."""
    return (batch_idx + 1) % max(1, trainer.accumulate_grad_batches) != 0


def flush_step_logs(trainer: Trainer) -> None:
    """Hand this step's ``self.log`` values to the loggers now: Lightning does so only after the callbacks'
    batch-end hooks, which a run stopping at a signal never reaches."""
    trainer._logger_connector.on_batch_end()
    trainer._logger_connector.update_train_step_metrics()
    for logger in trainer.loggers:
        logger.save()
