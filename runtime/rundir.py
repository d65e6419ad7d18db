"""Run directories ``<runs_dir>/<lab>/<version>``: claimed atomically, shared by every rank of a run, reused on resume.

The DDP version protocol: the process that claims ``version_N`` sets ``DL_LABS_RUN_VERSION=<pid>:version_N``;
a DDP child that Lightning's launcher starts (``LOCAL_RANK`` >= 1) inherits it and joins that run, while any
other process (a second run in one notebook, a ``dl-labs`` subprocess) claims its own. torchrun / srun ranks
agree through ``runtime.launch``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runtime.launch import launch_version

VERSION_ENV = "DL_LABS_RUN_VERSION"  # "<pid>:version_N", read by DDP child processes so all ranks use one run dir
NEW = "new"  # --run_version new: resume the weights and training state, but in a new run directory
SPECIAL_CKPT = ("last", "best", "hpc", "registry")


@dataclass
class RunDir:
    """Where a run writes, and what this process created for it (removed again if the run never starts)."""

    path: Path
    lab: str
    version: str
    resumed: bool = False
    made: Path | None = None  # the version folder, when this process created it
    made_parents: list[Path] = field(default_factory=list)  # <lab>, <runs_dir>: deepest first


def lab_name(lab: str | None, configs: Sequence[object]) -> str:
    """``--lab``, else the file name of the last config under a ``labs`` folder (else of the last config)."""
    if lab:
        return lab
    paths = [Path(str(c)) for c in configs if c is not None]
    labs = [c for c in paths if "labs" in c.parts] or paths
    return labs[-1].stem if labs else "lab"


def checkpoint_run_dir(ckpt_path: object) -> Path | None:
    """The run directory a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` with ``<run>/config.yaml``), or None."""
    if not ckpt_path or str(ckpt_path) in SPECIAL_CKPT:
        return None
    p = Path(str(ckpt_path)).expanduser()
    run = p.parent.parent
    return run if p.parent.name == "checkpoints" and (run / "config.yaml").is_file() else None


def _absent_parents(runs_dir: Path, lab: str) -> list[Path]:
    return [p for p in (runs_dir / lab, runs_dir) if not p.exists()]


def claim_version(runs_dir: Path, lab: str) -> RunDir:
    """Make the next free ``version_N`` (mkdir is atomic: two runs started at once never share one)."""
    taken = [
        int(m.group(1)) for p in (runs_dir / lab).glob("version_*") if (m := re.fullmatch(r"version_(\d+)", p.name))
    ]
    n = max(taken, default=-1) + 1
    parents = _absent_parents(runs_dir, lab)
    (runs_dir / lab).mkdir(parents=True, exist_ok=True)
    while True:
        try:
            (runs_dir / lab / f"version_{n}").mkdir()
            break
        except FileExistsError:
            n += 1
    version = f"version_{n}"
    announce(version)
    path = runs_dir / lab / version
    return RunDir(path, lab, version, made=path, made_parents=parents)


def announce(version: str) -> None:
    """Tell the DDP children this process starts which run they belong to."""
    os.environ[VERSION_ENV] = f"{os.getpid()}:{version}"


def inherited_version() -> str | None:
    """The version a DDP child joins (set by the process that launched it), else None."""
    owner, _, version = os.environ.get(VERSION_ENV, "").rpartition(":")
    if version and owner != str(os.getpid()) and os.environ.get("LOCAL_RANK", "0") != "0":
        return version
    return None


def resolve(
    runs_dir: str | Path, lab: str, run_version: str | None = None, ckpt_path: object = None, fitting: bool = True
) -> RunDir:
    """The run directory of a command: the checkpoint's own run when ``fit --ckpt_path`` resumes one (unless
    ``run_version`` names another or ``new``), a named ``run_version``, the version a DDP parent claimed, the
    one torchrun / srun ranks agreed on, or a newly claimed ``version_N``. The folder exists on return."""
    root = Path(runs_dir)
    resumed = checkpoint_run_dir(ckpt_path) if fitting else None
    if resumed is not None and run_version in (None, NEW, resumed.name):
        root, lab = resumed.parent.parent, resumed.parent.name  # a new version of that lab, or that run itself
    if resumed is not None and run_version in (None, resumed.name):
        announce(resumed.name)  # as a claimed version is: DDP children and callers read which run this is
        return RunDir(resumed, lab, resumed.name, resumed=True)
    if run_version not in (None, NEW):
        run = RunDir(root / lab / str(run_version), lab, str(run_version))
        if not run.path.exists():  # a named --run_version: removed again if the run fails before it starts
            run.made_parents, run.made = _absent_parents(root, lab), run.path
        run.path.mkdir(parents=True, exist_ok=True)
        return run
    version = inherited_version()
    if version is not None:
        run = RunDir(root / lab / version, lab, version)
        run.path.mkdir(parents=True, exist_ok=True)
        return run
    claimed: list[RunDir] = []
    shared = launch_version(lambda: _claim_into(claimed, root, lab))
    if shared is not None:
        announce(shared)
        run = claimed[0] if claimed else RunDir(root / lab / shared, lab, shared)
        run.path.mkdir(parents=True, exist_ok=True)
        return run
    return claim_version(root, lab)


def _claim_into(out: list[RunDir], root: Path, lab: str) -> str:
    run = claim_version(root, lab)
    out.append(run)
    return run.version


def discard_unstarted(run: RunDir | None, started: bool) -> None:
    """Remove the run directory this process made if no loop started and the run wrote no checkpoint or metrics
    (under ddp_spawn the loop starts in a child process: what the run wrote tells), then the ``<lab>`` and
    ``runs`` folders if this run made them and they are now empty."""
    if run is None or run.made is None or not run.made.is_dir():
        return
    wrote = any(run.made.rglob("*.ckpt")) or any(run.made.rglob("metrics.csv"))
    if started or wrote:
        return
    shutil.rmtree(run.made, ignore_errors=True)
    for parent in run.made_parents:  # deepest first: <lab>, then runs
        try:
            parent.rmdir()  # only if empty
        except OSError:
            pass
