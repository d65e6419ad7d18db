"""Model and net arguments filled from the data, by name, and the datamodule built once from its config.

The datamodule says what the model needs through ``model_info()`` (num_classes, class_names, input_shape,
vocab_size, ...): every model or injected-net argument of the same name receives it. A value the config or
command line sets that contradicts the data is an error, even when it equals the argument's default; a key no
argument takes is a warning unless the data lists it in ``optional_model_info``.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentParser, Namespace
from lightning.pytorch import LightningDataModule

from labcore import log
from labcore.errors import LabError


def get(ns: Namespace | None, dotted: str) -> Any:
    """``ns.a.b.c`` for ``"a.b.c"``, or None where a level is missing."""
    for part in dotted.split("."):
        if not isinstance(ns, Namespace):
            return None
        ns = ns.get(part)
    return ns


def import_class(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(import_module(module), name)


def accepts(cls: type, name: str) -> bool:
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
        obj = import_class(class_path)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def build_data(cfg: Namespace) -> LightningDataModule:
    """The datamodule of ``cfg.data``. With a ``ckpt_path`` file and a datamodule that can restore its state
    (class names, tokenizer, statistics) ``from_checkpoint``, it does so: ``test`` / ``predict --ckpt_path``
    then need no training data to build the model."""
    ckpt = cfg.get("ckpt_path")
    if (
        ckpt
        and Path(str(ckpt)).is_file()
        and cfg.data.get("init_args") is not None
        and accepts(import_class(cfg.data.class_path), "from_checkpoint")
        and not cfg.data.init_args.get("from_checkpoint")
    ):
        cfg.data.init_args.from_checkpoint = str(ckpt)
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data", required=True)
    return parser.instantiate(parser.parse_object({"data": cfg.data.as_dict()})).data


def fill_from_data(cfg: Namespace, explicit: Namespace, data: LightningDataModule) -> None:
    """Fill ``cfg.model`` and its injected nn.Modules' arguments named like ``data.model_info()`` keys.
    ``explicit``: what the configs and command line set, without defaults (see the module docstring)."""
    model_info = getattr(data, "model_info", None)
    info = model_info() if callable(model_info) else {}  # a plain LightningDataModule offers nothing
    targets = [("model", cfg.model, explicit.get("model"))]
    init = cfg.model.get("init_args") or Namespace()
    for name, sub in vars(init).items():  # every injected nn.Module: net, generator, discriminator, ...
        if isinstance(sub, Namespace) and sub.get("class_path") and _is_module(sub.class_path):
            targets.append((f"model.init_args.{name}", sub, get(explicit, f"model.init_args.{name}")))
    taken: set[str] = set()
    for where, target, raw in targets:
        params = inspect.signature(import_class(target.class_path)).parameters
        same_class = raw is not None and raw.get("class_path") in (None, target.class_path)
        for key, value in info.items():
            if key not in params:
                continue
            taken.add(key)
            typed = get(raw, f"init_args.{key}") if same_class else None
            if typed is not None and typed != value and key != "class_names":
                raise LabError(
                    f"{where}.init_args.{key}={typed} contradicts the data ({key}={value}); "
                    f"remove it from the config (it is filled from the data) or choose matching data"
                )
            target.init_args[key] = value
    optional = set(getattr(data, "optional_model_info", ()))
    unused = sorted(set(info) - taken - optional)
    if unused:
        log.warn(
            f"the data offers {', '.join(unused)} but no model or net argument takes "
            f"{'it' if len(unused) == 1 else 'them'}; check the argument names of "
            f"{', '.join(t.class_path.rpartition('.')[2] for _, t, _ in targets)}"
        )
