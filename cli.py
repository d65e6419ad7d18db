"""dl-labs command line: ``dl-labs fit|validate|test|predict --config configs/labs/<family>/<lab>.yaml``
(or ``python cli.py ...`` in a checkout).

Also ``dl-labs compare ...`` (see ``commands/compare.py``) to run variants of a lab side by side. Everything
else (precision, devices, strategy, loggers) is plain LightningCLI. The run machinery (run directories,
checkpoint writing, preemption, resume) lives in ``runtime/``, the default callbacks in ``callbacks/defaults.py``.
"""

from __future__ import annotations

import sys
import time
from importlib import import_module
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_info
from torch.multiprocessing import ProcessExitedException

from callbacks.config_saver import LabSaveConfigCallback
from callbacks.defaults import default_callbacks
from callbacks.resume_state import ResumeState
from callbacks.wandb_summary import WANDB_TABLE_ROWS_HELP, dashboard_callbacks
from commands.explain import explain
from commands.preflight import check_checkpoint_file, check_checkpoint_settings, check_trainer, check_weights_fit
from lab_modules.nets.params import count_parameters
from lab_modules.task import AUTO, resolve_monitor
from labcore.console import route_output
from labcore.errors import LabError
from runtime import checkpoint_io, csv_resume, hook_dispatch, launchers, preemption, rundir, strategy, wandb_run
from runtime.exit import exit_now
from runtime.model_args import build_data, fill_from_data, get
from runtime.quiet import quiet_run
from runtime.run_guard import RunStarted
from runtime.rundir import VERSION_ENV
from runtime.summary import write_summary

ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = ROOT / "configs" / "trainer" / "default.yaml"
SUBCOMMANDS = ("fit", "validate", "test", "predict")
__all__ = ["DEFAULT_CONFIG", "VERSION_ENV", "LabCLI", "main"]


class LabCLI(LightningCLI):
    """LightningCLI plus: a default trainer config, per-run directories ``runs/<lab>/version_N``,
    the datamodule built once and its ``model_info()`` filled into model / net arguments of the
    same name, a best/last ModelCheckpoint that follows the task's monitored metric, atomic checkpoint
    writes, and ``--test_after_fit``. Everything else is plain LightningCLI, reached through its public hooks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # allow_abbrev=False: `--trainer.max_epoch 2` is an error, not quietly `--trainer.max_epochs 2`
        defaults = {"default_config_files": [str(DEFAULT_CONFIG)], "exit_on_error": False, "allow_abbrev": False}
        if kwargs.get("run", True):
            main_kwargs = {"exit_on_error": False, "allow_abbrev": False}
            kwargs.setdefault("parser_kwargs", {**main_kwargs, **{s: dict(defaults) for s in SUBCOMMANDS}})
        else:  # no subcommands (benchmarks, notebooks): the defaults go to the one parser
            kwargs.setdefault("parser_kwargs", defaults)
        kwargs.setdefault("save_config_callback", LabSaveConfigCallback)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        self.run: rundir.RunDir | None = None
        self._explicit = Namespace()
        self._started = RunStarted()
        try:
            with hook_dispatch.scoped(hook_dispatch.requested()):
                super().__init__(*args, **kwargs)
        except BaseException as err:
            rundir.discard_unstarted(self.run, self._started.started)
            if hasattr(self, "parser"):
                err.lab_parser = self.parser  # type: ignore[attr-defined]  # for commands.explain's suggestions
            raise

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        add_lab_arguments(parser)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # Only what the configs and the command line set, without defaults: a value the user typed is
        # checked against the data even when it equals the argument's default.
        self._explicit = explicit_values(parser, args)
        # --ckpt_path: the file itself, then whether its saved model settings fit this lab's config (Lightning
        # merges them in next), each as a one-line error.
        sub = self.config.get("subcommand")
        cfg = self.config[sub] if sub else self.config
        self._ckpt = check_checkpoint_file(cfg.get("ckpt_path"), get(cfg, "data.class_path"))
        if self._ckpt is not None and sub:
            check_checkpoint_settings(parser, self.config, sub, self._ckpt, str(cfg.get("ckpt_path")))
        self._first_step = csv_resume.first_logged_step(self._ckpt) if self._ckpt is not None else None

    def _cfg(self) -> Namespace:
        return self.config[self.subcommand] if self.subcommand else self.config

    def _explicit_cfg(self) -> Namespace:
        return (self._explicit.get(self.subcommand) or Namespace()) if self.subcommand else self._explicit

    @property
    def run_dir(self) -> Path | None:
        """This run's directory (None before the classes are instantiated)."""
        return self.run.path if self.run is not None else None

    def before_instantiate_classes(self) -> None:
        cfg = self._cfg()
        check_trainer(cfg.trainer)
        lab = rundir.lab_name(cfg.get("lab"), cfg.get("config") or [])
        fitting = self.subcommand == "fit"
        self.run = rundir.resolve(cfg.runs_dir, lab, cfg.get("run_version"), cfg.get("ckpt_path"), fitting)
        # Without a logger Lightning writes checkpoints and log_dir files to default_root_dir: the run's own folder.
        cfg.trainer.default_root_dir = str(self.run.path)
        configure_loggers(cfg.trainer.get("logger"), self.run, cfg, self.subcommand)
        self._data = build_data(cfg)
        fill_from_data(cfg, self._explicit_cfg(), self._data)

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

    def after_instantiate_classes(self) -> None:
        if self._ckpt is not None:
            check_weights_fit(self.model, self._ckpt, str(self._cfg().get("ckpt_path")))
            self._ckpt = None  # the weights are Lightning's to load now; do not keep a second copy

    def instantiate_trainer(self, **kwargs: Any):
        cfg = self._cfg()
        checkpoint = None
        if cfg.trainer.get("enable_checkpointing") is not False:
            args = cfg.checkpoint.as_dict()
            monitor, mode = resolve_monitor(self.model, args["monitor"], args["mode"], "checkpoint")
            checkpoint = {**args, "monitor": monitor, "mode": mode}
        bar = cfg.trainer.get("enable_progress_bar", True) is not False and not _has_progress_bar(cfg)
        extra = default_callbacks(self.subcommand, checkpoint, cfg.trainer.get("logger") not in (False, None), bar)
        extra += dashboard_callbacks(cfg.trainer.get("logger"), cfg.get("wandb_table_rows", 64))
        # trainer_defaults' callbacks are appended to the configured ones by LightningCLI itself.
        self.trainer_defaults = {**self.trainer_defaults, "callbacks": [self._started, *extra]}
        trainer_init = self.config_init[self.subcommand] if self.subcommand else self.config_init
        kwargs["plugins"] = checkpoint_io.install(trainer_init.trainer.get("plugins"))  # a user's plugins kept
        kwargs["strategy"] = strategy.for_unused_parameters(trainer_init.trainer.get("strategy", "auto"), self.model)
        trainer = super().instantiate_trainer(**kwargs)
        if self.subcommand == "fit":
            trainer.callbacks.insert(0, ResumeState())  # first: it restores the RNG before any other callback draws
            if self.run is not None and self.run.resumed:  # metrics.csv: appended, rows past the checkpoint dropped
                csv_resume.append_csv_logs(trainer.loggers, self._first_step)
        return trainer

    def before_fit(self) -> None:
        self._fit_started = time.perf_counter()
        preemption.note(None)
        if launchers.spawns_workers(self.trainer):
            # ddp_spawn: this process only waits; a signal sent to it is passed on to the training processes
            preemption.start_forwarding()

    def after_fit(self) -> None:
        preemption.stop_forwarding()
        trainer, ckpt = self.trainer, self.trainer.checkpoint_callback
        summary: dict[str, Any] = {
            "fit_seconds": round(time.perf_counter() - self._fit_started, 2),
            "params": count_parameters(self.model),
            "trainable_params": count_parameters(self.model, trainable_only=True),
        }
        best = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
        if best:
            # ddp_spawn hands back the best path but not always its score.
            score = None if ckpt.best_model_score is None else float(ckpt.best_model_score)
            summary.update(best_checkpoint=best, monitor=ckpt.monitor, mode=ckpt.mode, best_score=score)
            rank_zero_info(f"[dl-labs] best checkpoint ({ckpt.monitor}={score}): {best}")
        if self._cfg().get("test_after_fit"):
            results = trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best, weights_only=True)
            summary["test"] = results[0] if results else {}
        self._summary(summary)

    def after_test(self) -> None:
        metrics = self.trainer.callback_metrics
        self._summary({"test": {k: float(v) for k, v in metrics.items() if k.startswith("test/")}})

    def _summary(self, summary: dict[str, Any]) -> None:
        log_dir = write_summary(self.trainer, summary)
        if log_dir:
            rank_zero_info(f"[dl-labs] run files: {log_dir}")
        else:  # fast_dev_run: Lightning swaps the loggers for a dummy and writes no checkpoint
            rank_zero_info(f"[dl-labs] fast_dev_run: no metrics, checkpoints or summary were written ({self.run_dir})")


def add_lab_arguments(parser: LightningArgumentParser) -> None:
    """--lab, --runs_dir, --run_version, --test_after_fit and the best checkpoint's --checkpoint.* options."""
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
        help="Use <runs_dir>/<lab>/<run_version> (e.g. claimed beforehand by `dl-labs compare`) "
        "instead of the next free version_N.",
    )
    parser.add_argument("--test_after_fit", type=bool, default=False, help="After fit, test the best checkpoint.")
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


def explicit_values(parser: LightningArgumentParser, args: Any) -> Namespace:
    """What the configs and the command line set, without the parser's defaults."""
    try:
        if isinstance(args, (dict, Namespace)):
            return parser.parse_object(args, defaults=False)
        return parser.parse_args(args, defaults=False)
    except Exception:  # noqa: BLE001 - the full parse succeeded; without the raw view nothing is explicit
        return Namespace()


def configure_loggers(loggers: Any, run: rundir.RunDir, cfg: Namespace, subcommand: str | None) -> None:
    """Point the configured loggers at the run directory (CSV / TensorBoard: ``<runs_dir>/<lab>/<version>``;
    W&B: its files in the run directory, its identity from ``runtime.wandb_run``)."""
    if loggers in (None, False, True):
        return
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        args = logger.init_args
        if logger.class_path.endswith("WandbLogger"):
            wandb_run.configure_logger(args, cfg, run.path, run.lab, run.version, subcommand)
        else:
            args.save_dir, args.name, args.version = str(run.path.parent.parent), run.lab, run.version


def _has_progress_bar(cfg: Namespace) -> bool:
    callbacks = cfg.trainer.get("callbacks") or []
    return any("ProgressBar" in str(getattr(c, "class_path", type(c).__name__)) for c in callbacks)


def main(args: list[str] | None = None) -> None:
    """Run the CLI; bad input ends in exit code 2 and ONE ``error: ...`` line on stderr (see
    ``commands.explain``), with Lightning's and our info lines on stdout (``labcore.console``)."""
    argv = sys.argv[1:] if args is None else args
    route_output()
    started_as_script = Path(sys.argv[0]).name == "cli.py"
    preemption.set_program(["python", str(Path(__file__).resolve())] if started_as_script else ["dl-labs"])
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
        with quiet_run():
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
    if args is None:  # the command line (`dl-labs`, `python cli.py`): a finished run exits fast (runtime.exit)
        exit_now()


if __name__ == "__main__":
    main()
