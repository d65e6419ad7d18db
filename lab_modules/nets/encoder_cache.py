"""Disk cache of a frozen encoder's outputs, so later epochs skip the frozen forward.

Outputs are stored per example (the token ids' hash is the key), in memory-mapped ``.npy``
chunks under ``<cache_dir>/<model fingerprint>/``; the fingerprint hashes the encoder's class,
config and weights, so a different model (or a fine-tuned one) never reads stale outputs.
Only valid for encoders that are frozen and deterministic (eval mode) — the nets using it
enforce that.
"""

from __future__ import annotations

import hashlib
import json
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
        h.update(np.asarray([t.sum().item(), (t * torch.arange(t.numel(), dtype=t.dtype)).sum().item() if t.numel() < 2**24 else 0.0]).tobytes())
    return h.hexdigest()


class EncoderOutputCache:
    """``get(input_ids, attention_mask, compute)``: N x L x H outputs, computing only rows not cached."""

    def __init__(self, directory: Path, hidden: int, chunk_tokens: int = 2**18, dtype: str = "float16") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hidden, self.chunk_tokens, self.dtype = hidden, chunk_tokens, np.dtype(dtype)
        self.index: dict[str, tuple[int, int, int]] = {}  # key -> (chunk, offset, length)
        self.chunks: list[np.memmap] = []
        self.used = 0  # tokens used in the last chunk
        self.hits = self.misses = 0
        keys = self.dir / "keys.tsv"
        for line in keys.read_text().splitlines() if keys.exists() else []:
            k, c, o, n = line.split("\t")
            self.index[k] = (int(c), int(o), int(n))
        n_chunks = 1 + max((c for c, _, _ in self.index.values()), default=-1)
        for c in range(n_chunks):
            self.chunks.append(np.load(self._chunk_path(c), mmap_mode="r+"))
        if self.index:
            last = max(c for c, _, _ in self.index.values())
            self.used = max(o + n for c, o, n in self.index.values() if c == last)
        self._keys_file = open(keys, "a")

    def _chunk_path(self, c: int) -> Path:
        return self.dir / f"chunk{c:04d}.npy"

    def _new_chunk(self) -> None:
        self.chunks.append(np.lib.format.open_memmap(self._chunk_path(len(self.chunks)), mode="w+", dtype=self.dtype,
                                                     shape=(self.chunk_tokens, self.hidden)))
        self.used = 0

    @staticmethod
    def key(ids: np.ndarray) -> str:
        return hashlib.blake2b(ids.astype(np.int64).tobytes(), digest_size=16).hexdigest()

    def get(self, input_ids: Tensor, attention_mask: Tensor, compute) -> Tensor:
        ids = input_ids.cpu().numpy()
        lengths = attention_mask.sum(dim=1).cpu().numpy()
        keys = [self.key(ids[i, : lengths[i]]) for i in range(len(ids))]
        missing = [i for i, k in enumerate(keys) if k not in self.index]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            rows = torch.tensor(missing, device=input_ids.device)
            fresh = compute(input_ids[rows], attention_mask[rows]).float().cpu().numpy()
            for j, i in enumerate(missing):
                self._store(keys[i], fresh[j, : lengths[i]])
            self._keys_file.flush()
        out = np.zeros((len(ids), ids.shape[1], self.hidden), dtype=np.float32)
        for i, k in enumerate(keys):
            c, o, n = self.index[k]
            out[i, :n] = self.chunks[c][o:o + n]
        return torch.from_numpy(out).to(input_ids.device)

    def _store(self, key: str, rows: np.ndarray) -> None:
        n = len(rows)
        if n > self.chunk_tokens:
            raise ValueError(f"a sequence of {n} tokens does not fit a cache chunk of {self.chunk_tokens}")
        if not self.chunks or self.used + n > self.chunk_tokens:
            self._new_chunk()
        c = len(self.chunks) - 1
        self.chunks[c][self.used:self.used + n] = rows.astype(self.dtype)
        self.index[key] = (c, self.used, n)
        self._keys_file.write(f"{key}\t{c}\t{self.used}\t{n}\n")
        self.used += n


class CachedFrozenEncoder(nn.Module):
    """Wraps a frozen encoder: ``forward(input_ids, attention_mask)`` -> last hidden states,
    under ``no_grad``, read from / written to an ``EncoderOutputCache`` when ``cache`` is on."""

    def __init__(self, encoder: nn.Module, cache: bool = False, cache_dir: str | None = None,
                 cache_dtype: str = "float16") -> None:
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
            self._cache = EncoderOutputCache(root / fingerprint(self.encoder), self.encoder.config.hidden_size,
                                             dtype=self.cache_dtype)
        return self._cache.get(input_ids, attention_mask, self._compute)

    def train(self, mode: bool = True) -> "CachedFrozenEncoder":
        super().train(mode)
        self.encoder.eval()  # frozen: no dropout, so cached and fresh outputs agree
        return self
