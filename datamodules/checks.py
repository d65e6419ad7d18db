"""Range checks of the numeric data options, shared by every datamodule: one line naming the option."""

from __future__ import annotations

from typing import Any

from labcore.errors import LabError

OPT = "--data.init_args."


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def at_least(owner: str, minimum: int, **values: Any) -> None:
    """Each given option (None: unset, skipped; non-numbers such as ``batch_size: full`` skipped) is >= ``minimum``."""
    for name, value in values.items():
        if _number(value) and value < minimum:
            raise LabError(f"{owner}: {OPT}{name} {value} is out of range; pass a whole number >= {minimum}")


def fractions(owner: str, **values: float | None) -> None:
    """Held-out shares: each in [0, 1) and together below 1, so training keeps some data. A 0 share is
    allowed here (a split the data already has needs none); an empty split is refused when it is loaded."""
    given = {k: v for k, v in values.items() if v is not None}
    for name, value in given.items():
        if not _number(value) or not 0 <= value < 1:
            raise LabError(f"{owner}: {OPT}{name} {value} is out of range; pass a share between 0 and 1, e.g. 0.1")
    if len(given) > 1 and sum(given.values()) >= 1:
        names = " + ".join(f"{OPT}{k} {v}" for k, v in given.items())
        raise LabError(f"{owner}: {names} leave nothing to train on; pass shares that sum below 1, e.g. 0.1 each")


def empty_split(owner: str, split: str) -> LabError:
    """The error for a split with no examples, naming the option that would fill it."""
    fix = {
        "train": f"pass more data, or lower {OPT}val_fraction / {OPT}test_fraction (or raise {OPT}max_train_samples)",
        "val": f"pass a larger {OPT}val_fraction (one example at least), or data with a val split",
        "test": f"pass a larger {OPT}test_fraction (one example at least), or data with a test split",
        "predict": "pass at least one input to predict",
    }.get(split, "pass more data")
    return LabError(f"{owner}: the {split} split is empty; {fix}")
