"""The neutral base: checkpoint reading with one-line errors, offline switches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from labcore.checkpoints import datamodule_state, load_net_weights, read_checkpoint
from labcore.errors import LabError
from labcore.offline import network_available, offline


def _ckpt(tmp_path, state_dict, **extra) -> str:
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": state_dict, **extra}, path)
    return str(path)


def test_missing_or_unreadable_checkpoints_are_one_line(tmp_path):
    with pytest.raises(LabError, match="--model.init_args.weights_from"):
        read_checkpoint(tmp_path / "nope.ckpt", "--model.init_args.weights_from")
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    with pytest.raises(LabError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "junk.ckpt")


def test_net_weights_load_strictly_from_the_net_prefix(tmp_path):
    src, dst = nn.Linear(3, 2), nn.Linear(3, 2)
    path = _ckpt(tmp_path, {f"net.{k}": v for k, v in src.state_dict().items()} | {"other.x": torch.zeros(1)})
    load_net_weights(dst, path)
    assert torch.equal(dst.weight, src.weight)
    with pytest.raises(LabError, match="does not fit this net"):
        load_net_weights(nn.Linear(4, 2), path)


def test_a_checkpoint_without_code_to_unpickle_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": Evil()}, path)
    with pytest.raises(LabError):
        read_checkpoint(path)  # weights_only=True refuses arbitrary objects


def test_datamodule_state_is_found_by_its_marker(tmp_path):
    path = _ckpt(tmp_path, {}, MNISTDataModule={"lab_data": 1, "mean": [0.1]}, Other={"mean": 1})
    assert datamodule_state(path) == {"lab_data": 1, "mean": [0.1]}
    assert datamodule_state(_ckpt(tmp_path, {})) is None


def test_offline_switches_short_circuit_the_network_probe(monkeypatch):
    monkeypatch.setenv("DL_LABS_OFFLINE", "1")
    assert offline() and not network_available("example.org")


def test_process_group_is_destroyed_by_the_exit_handlers(tmp_path):
    """A process that exits with a live gloo group can abort in the interpreter's finalisation (SIGABRT,
    pytorch/pytorch#179291; one ddp_spawn rank did, under load). The group must be gone once the atexit handlers
    have run. atexit runs handlers last-registered first, so the check registered before runs after."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    script = f"""
import atexit
import torch.distributed as dist
from labcore.process_group import destroy_at_exit
dist.init_process_group("gloo", init_method="file://{tmp_path / "store"}", rank=0, world_size=1)
atexit.register(lambda: print("alive after the exit handlers:", dist.is_initialized()))
destroy_at_exit()
destroy_at_exit()  # once per process
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "alive after the exit handlers: False" in out.stdout
