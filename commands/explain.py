"""One line for an error a run ends in: what is at fault (file or option) and what to pass instead.

``cli.py main`` prints ``error: <explain(err)>``. Our own ``LabError`` already is such a line; the
errors of jsonargparse (option values, class paths, config files), Lightning (trainer settings) and
the file system (an unwritable ``--runs_dir``) are rewritten here. ``explain`` returns None for
anything else: a bug, which keeps its traceback.
"""

from __future__ import annotations

import difflib
import re
from importlib import import_module
from pathlib import Path
from typing import Any

from labcore.errors import LabError

MAX_CHARS = 600
_HINT = " (see --help, or --print_config for the full resolved config)"

# jsonargparse explains a bad value over many lines of union alternatives; these lines say nothing.
_NOISE = (
    "Does not validate against any of the Union",
    "Subtypes:",
    "Errors:",
    "NoneType",
    "Given value type",
    "Given value:",
    "Problem with given class_path 'lab_modules.Classifier'",
)


def lab_error_cause(err: BaseException | None) -> LabError | None:
    """The LabError in ``err``'s chain of causes (e.g. raised while jsonargparse instantiated a class)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, LabError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def explain(err: BaseException, argv: list[str]) -> str | None:
    """The one-line message for ``err``, or None when it is not bad input (keep the traceback)."""
    cause = lab_error_cause(err)
    if cause is not None:
        return _squash(str(cause))
    name = type(err).__name__
    if name == "ArgumentError":
        return _argument_error(err, argv)
    if name == "MisconfigurationException":
        return _squash(str(err)) + " (a --trainer.* option; see --trainer.help Trainer)"
    if isinstance(err, OSError) and err.filename:
        return _os_error(err, argv)
    return None


def one_line(err: BaseException) -> str:
    """jsonargparse's multi-line explanation reduced to the lines that name the key and the reason."""
    lines = [ln.strip(" -") for ln in str(err).splitlines()]
    kept = [ln for ln in lines if ln and not any(n in ln for n in _NOISE)]
    return "; ".join(dict.fromkeys(kept)) or " ".join(str(err).split())


def _squash(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " ..."


# --- jsonargparse ---------------------------------------------------------------------------------
def _argument_error(err: BaseException, argv: list[str]) -> str:
    text = str(err)
    if "Problems parsing config" in text or "yaml" in text.lower() and "line" in text:
        broken = _broken_yaml(argv)
        if broken:
            return broken
    missing = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", text)
    if missing:
        module, name = missing.groups()
        return _squash(f"unknown class_path '{module}.{name}'{_nearest_class_paths(module, name)}") + _HINT
    no_file = re.search(r"File does not exist: '(.+?)'", text)
    if no_file:
        return f"no config file {no_file.group(1)}; pass an existing --config (e.g. configs/labs/vision/mnist_mlp.yaml)"
    choice = re.search(r"Expected a typing.Literal\[(.+?)\]\. Got value: (\S+)", text)
    if choice:
        keys = re.findall(r'Parser key "([\w.]+)"', text)
        option = "--" + ".init_args.".join(keys) if keys else "the option"
        allowed = ", ".join(v.strip(" '\"") for v in choice.group(1).split(","))
        return f"{option} {choice.group(2)!r} is not allowed; pass one of {allowed}"
    unknown = re.search(r"unrecognized arguments: (\S+)", text)
    if unknown:
        options = list(dict.fromkeys(_option_names(err)))
        near = difflib.get_close_matches(unknown.group(1), options, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        return _squash(f"unknown option {unknown.group(1)}{hint}") + _HINT
    moved = _moved_option(text)
    if moved:
        return moved
    key = re.match(r'Parser key "([\w.]+)":', text)
    expected = re.findall(r"Expected a <class '(\w+)'>", text)
    kinds = [k for k in expected if k != "NoneType"]
    if key and kinds and "class_path" not in text:
        key, kind = key.group(1), kinds[0]
        value = _value_of(argv, key)
        shown = f" {value!r}" if value is not None else ""
        return f"--{key}{shown}: expected {'an' if kind[0] in 'aeiou' else 'a'} {kind}; pass --{key} <{kind}>" + _HINT
    return _squash(one_line(err)) + _HINT


def _moved_option(text: str) -> str | None:
    """A datamodule option that moved into a group (its class's ``moved_options``): name the new key."""
    found = re.search(
        r"class_path '([\w.]+)'.*?(?:Option '(\w+)' is not accepted|Parser key \"(\w+)\":\s*Unable)", text, re.S
    )
    if not found:
        return None
    module, _, name = found.group(1).rpartition(".")
    try:
        moved = getattr(getattr(import_module(module), name, None), "moved_options", {})
    except ImportError:
        return None
    old = found.group(2) or found.group(3)
    if old not in moved:
        return None
    return f"--data.init_args.{old} is now --data.init_args.{moved[old]}; pass that (see docs/data.md, Grouped options)"


def _broken_yaml(argv: list[str]) -> str | None:
    """``FILE: YAML syntax error at line L, column C (reason)`` for the first --config that does not load."""
    import yaml

    for i, a in enumerate(argv):
        if a != "--config" or i + 1 >= len(argv):
            continue
        path = Path(argv[i + 1])
        if not path.is_file():
            continue
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            reason = getattr(e, "problem", None) or type(e).__name__
            return f"{path}: YAML syntax error{where} ({reason}); fix the file or pass another --config"
        except (OSError, UnicodeDecodeError) as e:
            return f"{path}: cannot read it ({e}); pass a readable --config"
    return None


def _nearest_class_paths(module: str, name: str) -> str:
    try:
        mod = import_module(module)
    except ImportError:
        return f"; module {module!r} does not exist"
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not near:  # e.g. a different spelling altogether: list what there is
        classes = [n for n in names if n[:1].isupper()]
        return f"; {module} has {', '.join(f'{module}.{n}' for n in classes[:12])}"
    return f"; did you mean {' or '.join(f'{module}.{n}' for n in near)}?"


def _option_names(err: BaseException) -> list[str]:
    """The option strings of the parser that raised ``err`` (cli.py attaches it), else none."""
    parser: Any = getattr(err, "lab_parser", None)
    if parser is None:
        return []
    names: list[str] = []
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in getattr(p, "_actions", []):
            names += [o for o in action.option_strings if o.startswith("--")]
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                stack += [c for c in choices.values() if hasattr(c, "_actions")]
    return names


def _value_of(argv: list[str], key: str) -> str | None:
    for i, a in enumerate(argv):
        if a == f"--{key}" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(f"--{key}="):
            return a.split("=", 1)[1]
    return None


# --- file system ----------------------------------------------------------------------------------
def _os_error(err: OSError, argv: list[str]) -> str | None:
    runs_dir = _value_of(argv, "runs_dir") or "runs"
    target = Path(str(err.filename))
    try:
        under_runs = target.resolve().is_relative_to(Path(runs_dir).resolve())
    except OSError:
        under_runs = False
    if not under_runs:
        return None
    return f"cannot write the run directory {target} ({err.strerror}); pass a writable --runs_dir (given: {runs_dir})"
