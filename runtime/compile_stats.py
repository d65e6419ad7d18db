"""How many graphs ``torch.compile`` built (torch keeps the count in a private module)."""

from __future__ import annotations

from torch._dynamo.utils import counters


def reset_graph_count() -> None:
    """Start counting anew (the count is per process)."""
    counters.clear()


def graph_count() -> int:
    """Graphs compiled since ``reset_graph_count()`` (0: everything ran eager)."""
    return int(counters["stats"]["unique_graphs"])
