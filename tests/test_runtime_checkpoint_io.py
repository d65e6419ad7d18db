"""runtime.checkpoint_io: every checkpoint write is complete or absent, its failure is one line, and under DDP every
rank learns of rank 0's failure at once."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from labcore.errors import LabError
from runtime.checkpoint_io import AtomicCheckpointIO, install
from tests.helpers import ROOT


def _full_disk_fsync(monkeypatch) -> None:
    """``os.fsync`` of a file fails with ENOSPC (where delayed allocation on a full disk reports it)."""
    real = os.fsync

    def fsync(fd):
        if os.path.isfile(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    io = AtomicCheckpointIO()
    io.save_checkpoint({"a": torch.ones(2)}, tmp_path / "ckpts" / "last.ckpt")
    io.save_checkpoint({"a": torch.zeros(2)}, tmp_path / "ckpts" / "last.ckpt")
    assert torch.equal(torch.load(tmp_path / "ckpts" / "last.ckpt", weights_only=True)["a"], torch.zeros(2))
    assert [p.name for p in (tmp_path / "ckpts").iterdir()] == ["last.ckpt"]


def test_full_disk_keeps_the_previous_checkpoint_and_no_temporary_anywhere(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "systemtmp"))  # where fsspec's transaction wrote
    (tmp_path / "systemtmp").mkdir()
    io = AtomicCheckpointIO()
    target = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"epoch": 0}, target)
    _full_disk_fsync(monkeypatch)
    with pytest.raises(LabError) as err:
        io.save_checkpoint({"epoch": 1, "w": torch.zeros(1000)}, target)
    message = str(err.value)
    assert "\n" not in message and "No space left on device" in message and "previous one is intact" in message
    assert str(target) in message
    assert torch.load(target, weights_only=True) == {"epoch": 0}
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]
    assert list((tmp_path / "systemtmp").iterdir()) == []


def test_the_plugin_is_added_beside_a_users_plugins_but_not_over_their_checkpoint_io():
    from lightning.pytorch.plugins import TorchCheckpointIO
    from lightning.pytorch.plugins.environments import LightningEnvironment

    env = LightningEnvironment()
    assert [type(p) for p in install(None)] == [AtomicCheckpointIO]
    assert [type(p) for p in install([env])] == [LightningEnvironment, AtomicCheckpointIO]
    assert [type(p) for p in install(env)] == [LightningEnvironment, AtomicCheckpointIO]
    own = TorchCheckpointIO()
    assert install([own]) == [own]


RANK_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import lightning as L, torch
    from torch.utils.data import DataLoader, TensorDataset
    from labcore.errors import LabError
    from runtime import checkpoint_io

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 1)
        def training_step(self, batch, batch_idx):
            return self.net(batch[0]).sum()
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class SaveAt(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 2:  # rank 0's write fails: its folder is a file
                checkpoint_io.save(trainer, sys.argv[1])

    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=6, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        plugins=checkpoint_io.install(None), callbacks=[SaveAt()], default_root_dir=sys.argv[2])
    try:
        trainer.fit(Tiny(), DataLoader(TensorDataset(torch.randn(32, 2)), batch_size=2))
    except LabError as err:
        print(f"rank {trainer.global_rank} step {trainer.global_step}: error: {err}", flush=True)
        sys.exit(2)
    print(f"rank {trainer.global_rank}: finished", flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_under_ddp_every_rank_learns_of_rank_0s_failed_write_at_once(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    (tmp_path / "not_a_folder").write_text("x")
    target = tmp_path / "not_a_folder" / "last.ckpt"
    port = str(_free_port())
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "TORCHELASTIC_RUN_ID": "test",  # a torchrun-style launch: Lightning's DDP joins it as it is
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "GROUP_RANK": "0",
            "LOCAL_WORLD_SIZE": "2",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(target), str(tmp_path / "root")],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    started = time.monotonic()
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=240)[0])
    finally:
        for p in procs:
            p.kill()
    waited = time.monotonic() - started
    assert [p.returncode for p in procs] == [2, 2], "\n".join(o[-3000:] for o in outs)
    for rank, out in enumerate(outs):
        (line,) = [ln for ln in out.splitlines() if ln.startswith(f"rank {rank} step 2: error:")]
        assert "could not write checkpoint" in line and str(target) in line
    assert waited < 200  # gloo's collective timeout (30 min) never came into it
    assert not target.exists() and [p.name for p in tmp_path.iterdir()].count("not_a_folder") == 1
