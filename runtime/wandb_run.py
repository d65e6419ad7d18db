"""The W&B run of a run directory: one run directory is one W&B run, under every kind of restart.

``configure_logger`` fills a ``WandbLogger``'s arguments (the ``wandb.init`` keywords among them) before
the logger is built:

- ``id``: kept in ``<run dir>/wandb_id``, so ``fit --ckpt_path <run>/checkpoints/last.ckpt`` (a preempted
  job, a SLURM requeue) continues the same W&B run (the logger passes ``resume="allow"``), while
  ``--run_version new`` (a new run directory) starts a new one. Under a W&B sweep agent the agent's
  ``WANDB_RUN_ID`` is the id. Only the rank-zero process writes the file; other ranks never open a run.
- ``group``: the lab, or the compare spec's name for the variants of one ``cli.py compare``
  (``GROUP_ENV``, set by ``commands/compare.py``); ``job_type``: fit / validate / test / predict;
- ``tags``: ``family:<configs/labs/family>``, ``task:<task class>``, ``net:<net class>`` (the resolved
  data source, known only once the data is set up, is added by ``callbacks.WandbDashboard``);
- ``config``: the run directory and the git commit of the code (and, with ``log_model``, ``model_artifact``:
  ``<name>:best``, the checkpoint the summary's best value and test metrics belong to, and ``log_model``);
- ``checkpoint_name``: the model artifact's name, after the run;
- ``log_model``: always False for the logger itself. The user's ``log_model`` goes into the run config, and
  ``callbacks.wandb_summary.BestModelArtifact`` logs the best checkpoint from it (see ``configure_logger``).
"""

from __future__ import annotations

import os
import re
import secrets
import string
import subprocess
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.utilities import rank_zero_only

ID_FILE = "wandb_id"
GROUP_ENV = "DL_LABS_WANDB_GROUP"  # a compare spec's name, set for its variants' processes
LOG_MODEL_KEY = "log_model"  # the run config's copy of the logger's log_model option (True or "all")
ROOT = Path(__file__).resolve().parent.parent


def new_run_id() -> str:
    """8 lowercase letters and digits, the form W&B gives its own run ids."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def run_id(run_dir: Path, write: bool = True) -> str:
    """The W&B run id of ``run_dir``: the sweep agent's, else the one kept in ``<run_dir>/wandb_id``, else a new
    one (kept there when ``write``, i.e. in the rank-zero process)."""
    path = Path(run_dir) / ID_FILE
    agent = os.environ.get("WANDB_RUN_ID") if os.environ.get("WANDB_SWEEP_ID") else None
    kept = path.read_text().strip() if path.is_file() else ""
    rid = agent or kept or new_run_id()
    if write and rid != kept:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(rid + "\n")
        os.replace(tmp, path)
    return rid


def git_commit(root: Path = ROOT) -> str | None:
    """``<sha>`` of the checked-out code, ``<sha>-dirty`` with uncommitted changes to tracked files, None
    outside a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def family(cfg: Namespace) -> str | None:
    """The lab family: ``<family>`` of the ``configs/labs/<family>/<lab>.yaml`` among the run's configs."""
    for c in reversed([Path(str(c)) for c in (cfg.get("config") or []) if c is not None]):
        if c.parent.parent.name == "labs":
            return c.parent.name
    return None


def _class_name(class_path: Any) -> str:
    return str(class_path).rpartition(".")[2]


def identity_tags(cfg: Namespace) -> list[str]:
    """``family:``, ``task:`` and ``net:`` tags from the resolved config (no class is imported)."""
    tags = []
    fam = family(cfg)
    if fam:
        tags.append(f"family:{fam}")
    model = cfg.get("model")
    if isinstance(model, Namespace) and model.get("class_path"):
        tags.append(f"task:{_class_name(model.class_path)}")
        init = model.get("init_args") or Namespace()
        for value in vars(init).values():  # every injected network: net, generator, discriminator, ...
            if isinstance(value, Namespace) and ".nets." in f".{value.get('class_path') or ''}":
                tags.append(f"net:{_class_name(value.class_path)}")
    return tags


def artifact_name(*parts: str) -> str:
    """W&B artifact names take letters, digits, ``-``, ``_`` and ``.``: anything else becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(p for p in parts if p)).strip("-")


def configure_logger(
    args: Namespace, cfg: Namespace, run_dir: Path, lab: str, version: str, subcommand: str | None
) -> None:
    """Fill a ``WandbLogger``'s ``init_args`` (``args``) for this run; what the config sets explicitly wins."""
    group = os.environ.get(GROUP_ENV) or lab
    args.save_dir = str(run_dir)
    args.name = args.get("name") or (f"{lab}/{version}" if group == lab else f"{group}/{lab}/{version}")
    if not (args.get("id") or args.get("version")):
        args.id = run_id(run_dir, write=rank_zero_only.rank == 0)
    args.group = args.get("group") or group
    args.job_type = args.get("job_type") or subcommand or "fit"
    own = list(args.get("tags") or [])
    args.tags = own + [t for t in identity_tags(cfg) if t not in own]
    args.config = {
        **(args.get("config") or {}),
        "run_dir": str(Path(run_dir).resolve()),
        "git_commit": git_commit(),
    }
    args.checkpoint_name = args.get("checkpoint_name") or artifact_name(group, lab if group != lab else "", version)
    log_model = args.get("log_model") or False
    if log_model:  # where the dashboard's numbers' checkpoint is: the artifact's `best` alias
        args.config["model_artifact"] = f"{args.checkpoint_name}:best"
        args.config[LOG_MODEL_KEY] = log_model
    # The artifact is logged by callbacks.wandb_summary.BestModelArtifact (it reads the two keys above), not by
    # the logger: Lightning's log_model uploads the checkpoints of EVERY ModelCheckpoint and tags each one's
    # best as `best`, and the run has two (the best by the task's metric and the per-epoch last.ckpt).
    args.log_model = False
    if os.environ.get("WANDB_MODE") in ("offline", "dryrun"):
        args.offline = True
