"""Test set-up: offline, CPU, no ../shared, small thread count, runs under tmp dirs."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("DL_LABS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
if os.environ.get("PYTEST_XDIST_WORKER"):  # the processes tests start (DDP ranks, torchrun) keep to one thread too
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Under pytest-xdist (`-n 2`, one worker per core) each worker keeps to one thread: two threads per worker
# would oversubscribe the cores, and torch's spinning threads slow small steps down by orders of magnitude.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test: its own data dir (no full copies found) and a fresh run-version slot."""
    monkeypatch.setenv("DL_LABS_DATA", str(tmp_path / "data_cache"))
    monkeypatch.delenv("DL_LABS_RUN_VERSION", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
