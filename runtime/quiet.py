"""Two messages every run printed and no user can act on, silenced narrowly for the length of a CLI run.

- torch's ``FutureWarning: `isinstance(treespec, LeafSpec)` is deprecated``, raised where Lightning's
  ``lightning.pytorch.utilities._pytree`` builds a ``LeafSpec`` (filtered by message, category and that module;
  also for the processes ``ddp_spawn`` starts, through ``PYTHONWARNINGS``, which they inherit);
- Lightning's "Tip: ... litlogger" info line (filtered by its text on Lightning's rank-zero logger).
Everything else, these modules' other warnings included, still shows.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

TREESPEC_MESSAGE = "`isinstance(treespec, LeafSpec)` is deprecated"
TREESPEC_MODULE = "lightning.pytorch.utilities._pytree"
TIP_LOGGER = "lightning.pytorch.utilities.rank_zero"
# PYTHONWARNINGS is comma-separated and matches the message by its start: the text before the message's comma.
_ENV_FILTER = f"ignore:{TREESPEC_MESSAGE.split(',')[0]}:FutureWarning:{TREESPEC_MODULE}"


class _NoLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("Tip:" in text and "litlogger" in text)


@contextmanager
def quiet_run() -> Iterator[None]:
    """The block with the two messages above filtered; the filters, logger and environment as before after it."""
    tip_filter = _NoLitLoggerTip()
    tip_logger = logging.getLogger(TIP_LOGGER)
    previous_env = os.environ.get("PYTHONWARNINGS")
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
            category=FutureWarning,
            module=r"lightning\.pytorch\.utilities\._pytree",
        )
        tip_logger.addFilter(tip_filter)
        os.environ["PYTHONWARNINGS"] = ",".join(p for p in (previous_env, _ENV_FILTER) if p)
        try:
            yield
        finally:
            tip_logger.removeFilter(tip_filter)
            if previous_env is None:
                os.environ.pop("PYTHONWARNINGS", None)
            else:
                os.environ["PYTHONWARNINGS"] = previous_env
