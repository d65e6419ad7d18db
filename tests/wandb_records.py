"""Reads an offline W&B run back: ``run-<id>.wandb`` is a LevelDB-style log of ``wandb_internal_pb2.Record``
protobufs (a 7-byte ``:W&B`` header, then 32 KiB blocks of chunks with a 7-byte header: CRC-32, length, type).
The wandb package no longer ships a Python reader of it (its sync is in the Go core), hence this one."""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wandb
from wandb.proto import wandb_internal_pb2 as pb

from runtime import wandb_run

BLOCK = 32 * 1024
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[pb.Record]:
    """Every record of a ``run-*.wandb`` file, in order."""
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, buf, out = 7, b"", []
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # the block's tail is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        if kind not in (FULL, FIRST, MIDDLE, LAST):  # zero padding up to the next block
            pos += left
            continue
        if pos + CHUNK_HEADER + length > len(data):  # still being written
            break
        chunk = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        buf = chunk if kind in (FULL, FIRST) else buf + chunk
        if kind in (FULL, LAST):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
            buf = b""
    return out


def _put(tree: dict, keys: list[str], value: Any) -> None:
    for k in keys[:-1]:
        tree = tree.setdefault(k, {})
    tree[keys[-1]] = value


@dataclass
class OfflineRun:
    """What one offline run file says: the run record (its last version: tags set later show there), the
    summary (every update applied), metric definitions, history rows and logged artifacts."""

    path: Path
    run: pb.RunRecord = None  # type: ignore[assignment]
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: list[pb.MetricRecord] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[pb.ArtifactRecord] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, timeout: float = 60.0) -> OfflineRun:
        """The run file's records once its ``exit`` record is in (W&B's core process may still be writing it
        when ``wandb.finish()`` returns on a busy machine)."""
        deadline = time.monotonic() + timeout
        recs = records(path)
        while not any(r.WhichOneof("record_type") == "exit" for r in recs) and time.monotonic() < deadline:
            time.sleep(0.5)
            recs = records(path)
        run = cls(Path(path))
        for rec in recs:
            kind = rec.WhichOneof("record_type")
            if kind == "run":
                run.run = rec.run
                run.config.update({i.key: json.loads(i.value_json) for i in rec.run.config.update})
            elif kind == "config":
                run.config.update({i.key: json.loads(i.value_json) for i in rec.config.update})
            elif kind == "summary":
                for item in rec.summary.update:
                    _put(run.summary, list(item.nested_key) or [item.key], json.loads(item.value_json))
            elif kind == "metric":
                run.metrics.append(rec.metric)
            elif kind == "history":
                row: dict[str, Any] = {}
                for item in rec.history.item:
                    _put(row, list(item.nested_key) or [item.key], json.loads(item.value_json))
                run.history.append(row)
            elif kind == "artifact":
                run.artifacts.append(rec.artifact)
        return run

    def metric(self, name: str) -> pb.MetricRecord | None:
        """The last definition of metric (or glob) ``name``."""
        found = [m for m in self.metrics if name in (m.name, m.glob_name)]
        return found[-1] if found else None

    def table(self, key: str) -> dict[str, Any]:
        """The last ``wandb.Table`` logged under ``key``, as its JSON (read from the artifact's staged file)."""
        for art in reversed(self.artifacts):
            if art.type != "run_table":
                continue
            for entry in art.manifest.contents:
                if entry.path == f"{key}.table.json":
                    return json.loads(Path(entry.local_path).read_text())
        raise AssertionError(f"no table {key} in {self.path}")


def offline_runs(run_dir: Path) -> list[OfflineRun]:
    """Every offline run file under ``<run_dir>/wandb``, oldest first."""
    files = sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"), key=lambda p: p.parent.name)
    return [OfflineRun.read(p) for p in files]


def isolate_wandb(tmp_path: Path, monkeypatch: Any):
    """A test's W&B runs offline, stage tables and artifacts in its own folder, and start with no run open
    (a run an earlier test left open would be reused by the next WandbLogger); yield, then finish the run
    as the end of the process would. Use as the body of an autouse fixture."""
    wandb.finish()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb_data"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.delenv(wandb_run.GROUP_ENV, raising=False)
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)
    yield
    wandb.finish()
