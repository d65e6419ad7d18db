"""The text datamodule's saved tokenizer vs. the options a user passes with ``from_checkpoint``.

A checkpoint's tokenizer (vocabulary, ``max_length``, stop words, ...) is what its model was trained
on, so it is restored as it was. A tokenizer option the user left at the constructor default is
taken from the checkpoint (one info line names them); an option set to another value that
contradicts the checkpoint is refused. The datamodule cannot see whether a value was typed or
defaulted: a value that differs from the constructor default counts as typed (so typing the
default itself cannot be told apart from leaving it out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datamodules.text_tokenizer import HTML_TAG, stop_word_list
from labcore import log
from labcore.checkpoints import read_checkpoint
from labcore.errors import LabError

# option -> the tokenizer kinds it shapes (vocabulary options mean nothing to a pretrained tokenizer)
TOKENIZER_OPTIONS: dict[str, tuple[str, ...]] = {
    "tokenizer": ("vocab", "pretrained"),
    "max_length": ("vocab", "pretrained"),
    "stop_words": ("vocab",),
    "lowercase": ("vocab",),
    "strip_html": ("vocab",),
    "min_freq": ("vocab",),
    "max_vocab_size": ("vocab",),
    "pretrained_tokenizer": ("pretrained",),
}
# the flat option names (kept in checkpoints' tokenizer_options) -> TokenizerOptions' fields where they differ
FIELDS = {"tokenizer": "kind", "pretrained_tokenizer": "pretrained"}
STATE_KEY = "TextClassificationDataModule"


def flat_tokenizer_options(options: Any) -> dict[str, Any]:
    """``TokenizerOptions`` as the flat option names of ``TOKENIZER_OPTIONS``."""
    fields = asdict(options)
    return {option: fields[FIELDS.get(option, option)] for option in TOKENIZER_OPTIONS}


def tokenizer_fields(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The flat tokenizer options back as ``TokenizerOptions`` fields (a plain dict)."""
    return {FIELDS.get(option, option): flat[option] for option in TOKENIZER_OPTIONS}


def option_path(option: str) -> str:
    """The command-line key of a flat tokenizer option."""
    return f"--data.init_args.tokenizer.{FIELDS.get(option, option)}"


def checkpoint_state(path: str) -> dict[str, Any]:
    """The ``TextClassificationDataModule`` state inside a Lightning checkpoint (weights_only load)."""
    ckpt = read_checkpoint(path, "--data.init_args.from_checkpoint / --ckpt_path")
    state = ckpt.get(STATE_KEY)
    if not state or "encoder" not in state:
        raise LabError(
            f"{Path(path).expanduser()} holds no text datamodule state (tokenizer, class names); "
            "pass a checkpoint of a text lab"
        )
    return state


def saved_options(state: Mapping[str, Any]) -> dict[str, Any]:
    """The tokenizer options a checkpoint was built with. Older checkpoints saved only the encoder:
    what it shows is read back (kind, max_length, stop words, name, lower-casing, HTML stripping)."""
    enc = state["encoder"]
    opts = {
        "tokenizer": enc["kind"],
        "max_length": enc.get("max_length"),
        "stop_words": list(enc.get("stop_words") or []),
    }
    if enc["kind"] == "vocab":
        norm = json.dumps(json.loads(enc["tokenizer_json"]).get("normalizer"))
        opts.update(lowercase='"Lowercase"' in norm, strip_html=json.dumps(HTML_TAG)[1:-1] in norm)
    else:
        opts["pretrained_tokenizer"] = enc.get("name")
    opts.update(state.get("tokenizer_options") or {})
    return opts


def _same(option: str, a: Any, b: Any) -> bool:
    if option == "stop_words":
        return stop_word_list(a) == stop_word_list(b)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a or []) == list(b or [])
    return a == b


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"[{', '.join(map(repr, value[:3]))}, ... ({len(value)} words)]"
    return repr(list(value) if isinstance(value, tuple) else value)


def reconcile(hp: dict[str, Any], defaults: Mapping[str, Any], state: Mapping[str, Any], source: str) -> list[str]:
    """Set ``hp``'s defaulted tokenizer options to the checkpoint's; refuse typed contradictions.
    Returns the names of the options taken from the checkpoint (and logs them in one line)."""
    saved = saved_options(state)
    kind, resolved_name = saved["tokenizer"], state["encoder"].get("name")
    taken = []
    for option, kinds in TOKENIZER_OPTIONS.items():
        if option not in saved or kind not in kinds or option not in hp:
            continue
        mine, theirs = hp[option], saved[option]
        if _same(option, mine, theirs) or (option == "pretrained_tokenizer" and mine == resolved_name):
            continue
        if not _same(option, mine, defaults[option]):
            raise LabError(
                f"{option_path(option)}={_show(mine)} contradicts the checkpoint's {option}={_show(theirs)} "
                f"({source}); leave {option_path(option)} unset to use the checkpoint's tokenizer, or drop "
                f"--data.init_args.from_checkpoint / --ckpt_path to build a new one"
            )
        hp[option] = list(theirs) if isinstance(theirs, tuple) else theirs
        taken.append(option)
    if taken:
        log.info(
            f"tokenizer options taken from the checkpoint ({source}): "
            + ", ".join(f"{o}={_show(hp[o])}" for o in taken)
        )
    return taken
