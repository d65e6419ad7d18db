"""dl-labs command line: ``python cli.py fit|validate|test|predict --config configs/labs/<family>/<lab>.yaml``.

Also ``python cli.py compare ...`` (see ``commands/compare.py``) to run variants of a lab side
by side. Everything else (precision, devices, strategy, loggers) is plain LightningCLI.
"""

from __future__ import annotations

import atexit
import inspect
import json
import os
import re
import sys
import time
from importlib import import_module
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentParser, Namespace
from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.utilities import rank_zero_info
from torch.multiprocessing import ProcessExitedException

from callbacks import hook_dispatch, preemption
from callbacks.checkpoint import LabModelCheckpoint
from callbacks.config_saver import LabSaveConfigCallback
from callbacks.prediction_writer import PredictionWriter
from callbacks.progress_bar import LabProgressBar
from callbacks.resume_state import ResumeState
from callbacks.wandb_summary import WANDB_TABLE_ROWS_HELP, dashboard_callbacks
from commands import resume
from commands.explain import explain, lab_error_cause, one_line
from commands.preflight import check_checkpoint_file, check_trainer, check_weights_fit
from commands.run_guard import RunStarted, discard_unstarted_run
from datamodules.base import LabDataModule
from lab_modules.nets.params import count_parameters
from lab_modules.task import AUTO, resolve_monitor
from labcore import log
from labcore.console import route_output
from labcore.errors import LabError
from labcore.launch import launch_version
from runtime import wandb_run

ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = ROOT / "configs" / "trainer" / "default.yaml"
VERSION_ENV = "DL_LABS_RUN_VERSION"  # "<pid>:version_N", read by DDP child processes so all ranks use one run dir


class LabCLI(LightningCLI):
    """LightningCLI plus: a default trainer config, per-run directories ``runs/<lab>/version_N``,
    the datamodule built once and its ``model_info()`` filled into model / net arguments of the
    same name, a best/last ModelCheckpoint that follows the task's monitored metric, and
    ``--test_after_fit``. Everything else is plain LightningCLI, reached through its public hooks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        hook_dispatch.install()  # callback hooks without the inherited no-op calls (callbacks/hook_dispatch.py)
        defaults = {"default_config_files": [str(DEFAULT_CONFIG)], "exit_on_error": False}
        if kwargs.get("run", True):
            kwargs.setdefault(
                "parser_kwargs",
                {"exit_on_error": False, **{s: dict(defaults) for s in ("fit", "validate", "test", "predict")}},
            )
        else:  # no subcommands (benchmarks, notebooks): the defaults go to the one parser
            kwargs.setdefault("parser_kwargs", defaults)
        kwargs.setdefault("save_config_callback", LabSaveConfigCallback)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        try:
            super().__init__(*args, **kwargs)
        except BaseException as err:
            discard_unstarted_run(self)
            if hasattr(self, "parser"):
                err.lab_parser = self.parser  # type: ignore[attr-defined]  # for commands.explain's suggestions
            raise

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--lab",
            type=str | None,
            default=None,
            help="Run name: runs go to <runs_dir>/<lab>/version_N (default: the lab config's file name).",
        )
        parser.add_argument("--runs_dir", type=str, default="runs", help="Root of all run directories.")
        parser.add_argument(
            "--run_version",
            type=str | None,
            default=None,
            help="Use <runs_dir>/<lab>/<run_version> (e.g. claimed beforehand by `cli.py compare`) "
            "instead of the next free version_N.",
        )
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="After fit, test the best checkpoint and print the test metrics.",
        )
        # Not in trainer.callbacks, so `--trainer.callbacks+=X` cannot drop it; built in instantiate_trainer,
        # where the task module exists and can say what to monitor.
        parser.add_class_arguments(ModelCheckpoint, "checkpoint", instantiate=False)
        parser.add_argument("--wandb_table_rows", type=int, default=64, help=WANDB_TABLE_ROWS_HELP)
        parser.set_defaults(
            {
                "checkpoint.monitor": AUTO,
                "checkpoint.mode": AUTO,
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:03d}-step{step}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # Only what the configs and the command line set, without defaults: a value the user typed is
        # checked against the data even when it equals the argument's default.
        try:
            self._explicit = (
                parser.parse_object(args, defaults=False)
                if isinstance(args, (dict, Namespace))
                else parser.parse_args(args, defaults=False)
            )
        except Exception:  # noqa: BLE001 - the full parse above succeeded; without the raw view nothing is explicit
            self._explicit = Namespace()

    # --- run directory -----------------------------------------------------------------------
    def _cfg(self) -> Namespace:
        return self.config[self.subcommand] if self.subcommand else self.config

    def _explicit_cfg(self) -> Namespace:
        raw = getattr(self, "_explicit", None) or Namespace()
        return (raw.get(self.subcommand) or Namespace()) if self.subcommand else raw

    def _lab_name(self, cfg: Namespace) -> str:
        if cfg.get("lab"):
            return cfg.lab
        configs = [Path(str(c)) for c in (cfg.get("config") or []) if c is not None]
        labs = [c for c in configs if "labs" in c.parts] or configs
        return labs[-1].stem if labs else "lab"

    def _run_version(self, runs_dir: Path, lab: str) -> str:
        inherited = os.environ.get(VERSION_ENV, "")
        owner, _, version = inherited.rpartition(":")
        # A DDP child (Lightning's launcher sets LOCAL_RANK >= 1) joins the run of the process that launched it.
        # Anything else gets a run of its own, e.g. a second LabCLI in one notebook or a `cli.py` subprocess.
        if version and owner != str(os.getpid()) and os.environ.get("LOCAL_RANK", "0") != "0":
            return version
        # torchrun / srun start every rank alike: they agree on one run (labcore.launch).
        shared = launch_version(lambda: self._claim_version(runs_dir, lab))
        if shared is not None:
            os.environ[VERSION_ENV] = f"{os.getpid()}:{shared}"
            return shared
        return self._claim_version(runs_dir, lab)

    def _claim_version(self, runs_dir: Path, lab: str) -> str:
        taken = [
            int(m.group(1)) for p in (runs_dir / lab).glob("version_*") if (m := re.fullmatch(r"version_(\d+)", p.name))
        ]
        n = max(taken, default=-1) + 1
        self._made_parents = [p for p in (runs_dir / lab, runs_dir) if not p.exists()]  # see run_guard
        (runs_dir / lab).mkdir(parents=True, exist_ok=True)
        while True:  # mkdir is atomic: two runs started at once never share a directory
            try:
                (runs_dir / lab / f"version_{n}").mkdir()
                self._made_run_dir = runs_dir / lab / f"version_{n}"  # removed again if the run fails before it starts
                break
            except FileExistsError:
                n += 1
        os.environ[VERSION_ENV] = f"{os.getpid()}:version_{n}"
        return f"version_{n}"

    @property
    def run_dir(self) -> Path | None:
        """This run's directory (None before the classes are instantiated)."""
        return getattr(self, "_run_dir", None)

    def _configure_run_dir(self, cfg: Namespace) -> None:
        runs_dir = Path(cfg.runs_dir)
        lab = self._lab_name(cfg)
        requested = cfg.get("run_version")
        resumed = resume.checkpoint_run_dir(cfg.get("ckpt_path")) if self.subcommand == "fit" else None
        if resumed is not None and requested in (None, resume.NEW, resumed.name):
            # fit --ckpt_path <run>/checkpoints/last.ckpt continues that run (or starts a new version of its lab)
            runs_dir, lab = resumed.parent.parent, resumed.parent.name
        self._resumed = resumed is not None and requested in (None, resumed.name)
        if self._resumed:  # as a claimed version is: DDP children and callers read which run this is
            version = resumed.name
            os.environ[VERSION_ENV] = f"{os.getpid()}:{version}"
        elif requested not in (None, resume.NEW):
            version = requested
        else:
            version = self._run_version(runs_dir, lab)
        self._run_dir = runs_dir / lab / version
        if not self._run_dir.exists():  # a named --run_version: removed again if the run fails before it starts
            self._made_parents = [p for p in (runs_dir / lab, runs_dir) if not p.exists()]
            self._made_run_dir = self._run_dir
        self._run_dir.mkdir(parents=True, exist_ok=True)
        # Without a logger Lightning writes checkpoints and log_dir files to default_root_dir: the run's own folder.
        cfg.trainer.default_root_dir = str(self._run_dir)
        loggers = cfg.trainer.get("logger")
        if loggers in (None, False, True):
            return
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            args = logger.init_args
            if logger.class_path.endswith("WandbLogger"):
                wandb_run.configure_logger(args, cfg, self._run_dir, lab, version, self.subcommand)
            else:
                args.save_dir, args.name, args.version = str(runs_dir), lab, version

    # --- data -> model arguments, by name ----------------------------------------------------
    def _build_data(self, cfg: Namespace) -> LightningDataModule:
        ckpt = cfg.get("ckpt_path")
        if (
            ckpt
            and Path(str(ckpt)).is_file()
            and cfg.data.get("init_args") is not None
            and _accepts(_import(cfg.data.class_path), "from_checkpoint")
            and not cfg.data.init_args.get("from_checkpoint")
        ):
            # Data that can restore its state (class names, tokenizer, statistics) from the checkpoint does so,
            # so `test` / `predict --ckpt_path` need no training data to build the model.
            cfg.data.init_args.from_checkpoint = str(ckpt)
        return _instantiate_data(cfg.data)

    def _fill_from_data(self, cfg: Namespace, data: LightningDataModule) -> None:
        """Fill model/net arguments named like the data's ``model_info()`` keys (num_classes,
        class_names, input_shape, vocab_size, ...). A value the config or command line sets that
        contradicts the data is an error, even when it equals the argument's default; a key that
        no argument takes is a warning unless the data lists it in ``optional_model_info``."""
        info = data.model_info() if isinstance(data, LabDataModule) else {}  # plain datamodules offer nothing
        explicit = self._explicit_cfg()
        targets = [("model", cfg.model, explicit.get("model"))]
        init = cfg.model.get("init_args") or Namespace()
        for name, sub in vars(init).items():  # every injected nn.Module: net, generator, discriminator, ...
            if isinstance(sub, Namespace) and sub.get("class_path") and _is_module(sub.class_path):
                targets.append((f"model.init_args.{name}", sub, _get(explicit, f"model.init_args.{name}")))
        taken: set[str] = set()
        for where, target, raw in targets:
            params = inspect.signature(_import(target.class_path)).parameters
            same_class = raw is not None and raw.get("class_path") in (None, target.class_path)
            for key, value in info.items():
                if key not in params:
                    continue
                taken.add(key)
                typed = _get(raw, f"init_args.{key}") if same_class else None
                if typed is not None and typed != value and key != "class_names":
                    raise LabError(
                        f"{where}.init_args.{key}={typed} contradicts the data ({key}={value}); "
                        f"remove it from the config (it is filled from the data) or choose matching data"
                    )
                target.init_args[key] = value
        optional = set(data.optional_model_info)
        unused = sorted(set(info) - taken - optional)
        if unused:
            log.warn(
                f"the data offers {', '.join(unused)} but no model or net argument takes "
                f"{'it' if len(unused) == 1 else 'them'}; check the argument names of "
                f"{', '.join(t.class_path.rpartition('.')[2] for _, t, _ in targets)}"
            )

    def _parse_ckpt_path(self) -> None:
        """Lightning's reading of the checkpoint's saved model settings, after checking the file itself
        (exists, loads with ``weights_only=True``, is a Lightning checkpoint of this lab's data)."""
        sub = self.config.get("subcommand")
        cfg = self.config[sub] if sub else self.config
        ckpt_path = cfg.get("ckpt_path")
        self._ckpt = check_checkpoint_file(ckpt_path, _get(cfg, "data.class_path"))
        try:
            super()._parse_ckpt_path()
        except Exception as err:  # noqa: BLE001 - jsonargparse rejected the saved settings: another lab's checkpoint
            if _lab_error_cause(err) is not None:
                raise
            raise LabError(
                f"{ckpt_path}: the model settings saved in it do not fit this lab's config ({one_line(err)[:300]}); "
                "pass a checkpoint of this lab to --ckpt_path, or the config it was trained with"
            ) from None

    def after_instantiate_classes(self) -> None:
        ckpt = getattr(self, "_ckpt", None)
        if ckpt is not None:
            check_weights_fit(self.model, ckpt, str(self._cfg().get("ckpt_path")))
            self._ckpt = None  # the weights are Lightning's to load now; do not keep a second copy

    def before_instantiate_classes(self) -> None:
        cfg = self._cfg()
        check_trainer(cfg.trainer)
        self._configure_run_dir(cfg)
        self._data = self._build_data(cfg)
        self._fill_from_data(cfg, self._data)

    def instantiate_classes(self) -> None:
        """Lightning's instantiation, with the datamodule built once (in ``before_instantiate_classes``)."""
        cfg = self._cfg()
        data_cfg, cfg.data = cfg.data, None
        try:
            super().instantiate_classes()
        finally:
            cfg.data = data_cfg
        self.datamodule = self._data
        init = self.config_init[self.subcommand] if self.subcommand else self.config_init
        init.data = self._data

    # --- trainer -----------------------------------------------------------------------------
    def _checkpoint_callback(self, cfg: Namespace) -> LabModelCheckpoint | None:
        if cfg.trainer.get("enable_checkpointing") is False:
            return None
        args = cfg.checkpoint.as_dict()
        monitor, mode = resolve_monitor(self.model, args["monitor"], args["mode"], "checkpoint")
        return LabModelCheckpoint(**{**args, "monitor": monitor, "mode": mode})

    def instantiate_trainer(self, **kwargs: Any):
        cfg = self._cfg()
        self._run_started = RunStarted()
        extra: list[Callback] = [self._run_started]
        checkpoint = self._checkpoint_callback(cfg)
        if checkpoint is not None:
            extra.append(checkpoint)
        if cfg.trainer.get("logger") not in (False, None):
            extra.append(LearningRateMonitor(logging_interval="step"))
        extra += dashboard_callbacks(cfg.trainer.get("logger"), cfg.get("wandb_table_rows", 64))
        if cfg.trainer.get("enable_progress_bar", True) is not False and not _has_progress_bar(cfg):
            extra.append(LabProgressBar())
        if self.subcommand == "predict":
            extra.append(PredictionWriter())
        if self.subcommand == "fit":
            extra.append(_FitCounts())
        # trainer_defaults' callbacks are appended to the configured ones by LightningCLI itself.
        self.trainer_defaults = {**self.trainer_defaults, "callbacks": extra}
        trainer = super().instantiate_trainer(**kwargs)
        if self.subcommand == "fit":
            trainer.callbacks.insert(0, ResumeState())  # first: it restores the RNG before any other callback draws
            if getattr(self, "_resumed", False):
                resume.append_csv_logs(trainer.loggers)
        return trainer

    def before_fit(self) -> None:
        self._fit_started = time.perf_counter()
        preemption.note(None)
        if isinstance(self.trainer.strategy.launcher, _MultiProcessingLauncher):
            # ddp_spawn: this process only waits; a signal sent to it is passed on to the training processes
            preemption.start_forwarding()

    def after_fit(self) -> None:
        preemption.stop_forwarding()
        trainer = self.trainer
        ckpt = trainer.checkpoint_callback
        summary: dict[str, Any] = {
            "fit_seconds": round(time.perf_counter() - self._fit_started, 2),
            "params": count_parameters(self.model),
            "trainable_params": count_parameters(self.model, trainable_only=True),
        }
        if ckpt is not None and ckpt.best_model_path:
            # ddp_spawn hands back the best path but not always its score.
            score = None if ckpt.best_model_score is None else float(ckpt.best_model_score)
            summary.update(best_checkpoint=ckpt.best_model_path, monitor=ckpt.monitor, mode=ckpt.mode, best_score=score)
            rank_zero_info(f"[dl-labs] best checkpoint ({ckpt.monitor}={score}): {ckpt.best_model_path}")
        if self._cfg().get("test_after_fit"):
            path = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
            results = trainer.test(self.model, datamodule=self.datamodule, ckpt_path=path, weights_only=True)
            summary["test"] = results[0] if results else {}
        self._write_summary(summary)

    def after_test(self) -> None:
        self._write_summary(
            {"test": {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("test/")}}
        )

    def _write_summary(self, summary: dict[str, Any]) -> None:
        log_dir = _write_summary(self.trainer, summary)
        rank_zero_info(f"[dl-labs] run files: {log_dir}")


def _write_summary(trainer: Any, summary: dict[str, Any]) -> str | None:
    """``summary.json`` in the run directory (rank 0): what the compare command and benchmarks read."""
    log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask
    if not trainer.is_global_zero or not log_dir:
        return log_dir
    path = Path(log_dir) / "summary.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **summary}, indent=2))
    return log_dir


class _FitCounts(Callback):
    """Epochs and global step into ``summary.json`` at fit end, from the process that trained: ``ddp_spawn``
    trains in child processes and hands back neither, so the main process's trainer would say 0."""

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        _write_summary(trainer, {"epochs": trainer.current_epoch, "global_step": trainer.global_step})


def _get(ns: Namespace | None, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(ns, Namespace):
            return None
        ns = ns.get(part)
    return ns


def _has_progress_bar(cfg: Namespace) -> bool:
    callbacks = cfg.trainer.get("callbacks") or []
    return any("ProgressBar" in str(getattr(c, "class_path", type(c).__name__)) for c in callbacks)


def _accepts(cls: type, name: str) -> bool:
    """Whether ``cls(...)`` takes the keyword ``name``, following ``**kwargs`` up to the parent
    classes as jsonargparse does (e.g. ImageFolderDataModule's ``*args, **kwargs``)."""
    for klass in inspect.getmro(cls):
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        if name in params:
            return True
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return False
    return False


def _is_module(class_path: str) -> bool:
    try:
        obj = _import(class_path)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def _import(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(import_module(module), name)


def _instantiate_data(data_cfg: Namespace) -> LightningDataModule:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data", required=True)
    cfg = parser.parse_object({"data": data_cfg.as_dict()})
    return parser.instantiate(cfg).data


def _one_line(err: BaseException) -> str:
    """jsonargparse explains a bad value over many lines of union alternatives; keep the
    lines that name the key and the reason (see ``commands.explain``)."""
    text = one_line(err) + " (see --help, or --print_config for the full resolved config)"
    return text if len(text) <= 500 else text[:500] + " ..."


def _lab_error_cause(err: BaseException) -> LabError | None:
    """The LabError in ``err``'s chain of causes, e.g. raised while jsonargparse instantiated a class."""
    return lab_error_cause(err)


def main(args: list[str] | None = None) -> None:
    """Run the CLI; bad input ends in exit code 2 and ONE ``error: ...`` line on stderr (see
    ``commands.explain``), with Lightning's and our info lines on stdout (``labcore.console``)."""
    argv = sys.argv[1:] if args is None else args
    route_output()
    if argv and argv[0] in ("compare", "sweep"):
        command_main = import_module(f"commands.{argv[0]}").main
        try:
            code = command_main(argv[1:])
        except SystemExit as err:  # compare / sweep refuse bad input with SystemExit("error: ...")
            if not isinstance(err.code, str):
                raise
            print(" ".join(err.code.split()), file=sys.stderr)
            code = 2
        sys.exit(code)
    try:
        LabCLI(args=args)
    except ProcessExitedException as err:  # ddp_spawn: the training processes stopped at a signal (and said so)
        if err.exit_code not in preemption.EXIT_CODES:
            raise
        sys.exit(err.exit_code)
    except LabError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # jsonargparse, Lightning and OS errors of bad input: one line; anything else is a bug
        message = explain(err, argv)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    finally:
        preemption.stop_forwarding()  # also when fit ended in an error (after_fit did not run)


def exit_now() -> None:
    """End a finished `python cli.py ...` without the interpreter's teardown: after a Lightning run, freeing
    every module and tensor one by one takes 1-2 s (`benchmarks/peers/run.py` measures it as "exit"). The
    atexit handlers still run (W&B's run finish, temporary folders), the loggers were finalised by Lightning's
    teardown, and the streams are flushed; the exit code is 0, as it would be."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
    exit_now()
