"""Disk cache of a frozen encoder's outputs, so later epochs skip the frozen forward.

Outputs are stored per example under ``<cache_dir>/<model fingerprint>/<dtype>/<key[:2]>/<key>.npy``:
the key hashes the example's token ids, the fingerprint the encoder's class, config and weights,
so a different model (or a fine-tuned one) never reads stale outputs. Only valid for encoders
that are frozen and deterministic (eval mode) — the nets using it enforce that.

Safe for concurrent runs sharing one cache (the default directory is shared by all processes):
an entry is written to a temporary file in its own directory and renamed into place
(``os.replace``, atomic on POSIX), so a reader sees a whole entry or none, and two writers of one
key write the same values (last rename wins). Nothing is appended to shared files. An entry that
cannot be read (e.g. a disk that filled up) is computed again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from labcore.offline import default_data_dir


def default_cache_dir() -> Path:
    """``$DL_LABS_DATA/encoder_cache`` (the data cache), else ``~/.cache/dl-labs/encoder_cache``."""
    return default_data_dir() / "encoder_cache"


def fingerprint(model: nn.Module) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(type(model).__name__.encode())
    cfg = getattr(model, "config", None)
    if cfg is not None:
        h.update(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())
    for name, p in model.state_dict().items():
        t = p.detach().float().flatten()
        h.update(name.encode())
        h.update(
            np.asarray(
                [
                    t.sum().item(),
                    (t * torch.arange(t.numel(), dtype=t.dtype)).sum().item() if t.numel() < 2**24 else 0.0,
                ]
            ).tobytes()
        )
    return h.hexdigest()


class EncoderOutputCache:
    """``get(input_ids, attention_mask, compute)``: N x L x H outputs, computing only rows not cached.

    One ``.npy`` file per example (``length x hidden``), written atomically; see the module docstring."""

    def __init__(self, directory: Path, hidden: int, dtype: str = "float16") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hidden, self.dtype = hidden, np.dtype(dtype)
        self.hits = self.misses = 0

    @staticmethod
    def key(ids: np.ndarray) -> str:
        return hashlib.blake2b(ids.astype(np.int64).tobytes(), digest_size=16).hexdigest()

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npy"

    def read(self, key: str, length: int) -> np.ndarray | None:
        """The stored ``length x hidden`` rows, or None when absent or unreadable."""
        try:
            rows = np.load(self.path(key))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):  # damaged: computed again and replaced
            return None
        return rows if rows.shape == (length, self.hidden) else None

    def write(self, key: str, rows: np.ndarray) -> None:
        """Store ``rows`` under ``key``: a temporary file in the same directory, then an atomic rename."""
        target = self.path(key)
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{key}.", suffix=".tmp")
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o644)  # readable like a plainly created file (mkstemp makes it 0600)
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(rows, dtype=self.dtype))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, input_ids: Tensor, attention_mask: Tensor, compute) -> Tensor:
        ids = input_ids.cpu().numpy()
        lengths = attention_mask.sum(dim=1).cpu().numpy()
        keys = [self.key(ids[i, : lengths[i]]) for i in range(len(ids))]
        out = np.zeros((len(ids), ids.shape[1], self.hidden), dtype=np.float32)
        missing = []
        for i, k in enumerate(keys):
            rows = self.read(k, int(lengths[i]))
            if rows is None:
                missing.append(i)
            else:
                out[i, : lengths[i]] = rows
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            sel = torch.tensor(missing, device=input_ids.device)
            fresh = compute(input_ids[sel], attention_mask[sel]).float().cpu().numpy()
            for j, i in enumerate(missing):
                rows = fresh[j, : lengths[i]].astype(self.dtype)
                self.write(keys[i], rows)
                out[i, : lengths[i]] = rows  # what later reads return (the stored dtype's precision)
        return torch.from_numpy(out).to(input_ids.device)


class CachedFrozenEncoder(nn.Module):
    """Wraps a frozen encoder: ``forward(input_ids, attention_mask)`` -> last hidden states,
    under ``no_grad``, read from / written to an ``EncoderOutputCache`` when ``cache`` is on."""

    def __init__(
        self, encoder: nn.Module, cache: bool = False, cache_dir: str | None = None, cache_dtype: str = "float16"
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.cache_enabled = cache
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cache_dtype = cache_dtype
        self._cache: EncoderOutputCache | None = None

    def _compute(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        with torch.no_grad():
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        if not self.cache_enabled:
            return self._compute(input_ids, attention_mask)
        if self._cache is None:  # fingerprint the weights as they are now (after any checkpoint load)
            root = self.cache_dir or default_cache_dir()
            # the dtype is part of the place: a float16 entry never answers a float32 cache
            where = root / fingerprint(self.encoder) / np.dtype(self.cache_dtype).name
            self._cache = EncoderOutputCache(where, self.encoder.config.hidden_size, dtype=self.cache_dtype)
        return self._cache.get(input_ids, attention_mask, self._compute)

    def train(self, mode: bool = True) -> CachedFrozenEncoder:
        super().train(mode)
        self.encoder.eval()  # frozen: no dropout, so cached and fresh outputs agree
        return self
