"""Where a command-line run prints what: progress on stdout, warnings and the error on stderr.

Lightning's and dl-labs' informational lines ("Seed set to 42", "GPU available: ...", "[dl-labs] ...")
go to stdout, so that a run that fails prints nothing on stderr but warnings (one line each) and its
one ``error: ...`` line. On a cluster the job's ``.err`` file then holds only what needs reading.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

# Loggers Lightning attaches its own stderr handlers to (every info line of Lightning and of
# ``labcore.log``, which goes through Lightning's rank-zero helpers, ends in one of them).
LIGHTNING_PREFIXES = ("lightning", "pytorch_lightning", "lightning_fabric")


class _SplitHandler(logging.Handler):
    """Info lines to whatever ``sys.stdout`` is at the time (pytest swaps it per test), warnings and
    errors to ``sys.stderr`` as one ``warning: ...`` line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.WARNING:
                sys.stderr.write(f"warning: {' '.join(text.split())}\n")
            else:
                sys.stdout.write(text + "\n")
        except Exception:  # noqa: BLE001 - logging must never end a run
            self.handleError(record)


def _one_line_warning(message: Any, category: type[Warning], filename: str, lineno: int, line: Any = None) -> str:
    text = " ".join(str(message).split())
    kind = "" if category is UserWarning else f"{category.__name__}: "
    return f"warning: {kind}{text}\n"


def route_output() -> None:
    """Lightning's info lines to stdout, its warnings and ``warnings.warn`` as one line each on stderr.
    Idempotent: Lightning's stream handlers are replaced once."""
    names = [n for n in list(logging.Logger.manager.loggerDict) if n.split(".")[0] in LIGHTNING_PREFIXES]
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
                split = _SplitHandler(handler.level)
                split.setFormatter(logging.Formatter("%(message)s"))
                logger.addHandler(split)
    warnings.formatwarning = _one_line_warning  # type: ignore[assignment]
