"""The project logger: ``[dl-labs]`` messages printed once, by rank 0, under DDP too.

Uses ``lightning_utilities``' rank-zero helpers (the rank Lightning sets for every strategy) without
importing Lightning itself, so nets and the neutral base stay light.
"""

from __future__ import annotations

from lightning_utilities.core.rank_zero import rank_zero_info, rank_zero_warn


def info(message: str) -> None:
    """An informational line, rank 0 only."""
    rank_zero_info(f"[dl-labs] {message}")


def warn(message: str) -> None:
    """A warning (``UserWarning``), rank 0 only: data dropped, fallbacks taken, settings overridden."""
    rank_zero_warn(f"[dl-labs] {message}")
