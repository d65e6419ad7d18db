"""Resolution of ``source: auto | embedded | download | path`` shared by every datamodule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from labcore.errors import DataSourceError
from labcore.offline import network_available

Source = Literal["auto", "embedded", "download", "path"]
EMBEDDED_DIR = Path(__file__).parent / "embedded"


def resolve_source(
    name: str,
    source: Source,
    path: str | None,
    full_copy: Callable[[], Path | None],
    download: Callable[[], Path],
    how_to_get: str,
    host: str,
) -> tuple[str, Path | None]:
    """Return ``(resolved_source, location)``; ``location`` is None for embedded data.

    ``full_copy`` looks for an existing local full copy (data dir), ``download`` fetches it.
    ``how_to_get`` ends the notices and errors: what the user should pass instead. ``host`` is
    the download server, probed first so that offline ``auto`` falls back without delay.
    """
    if source == "path" or (source == "auto" and path):
        if not path:
            raise DataSourceError(f"{name}: source=path needs --data.init_args.path DIR ({how_to_get})")
        p = Path(path).expanduser()
        if not p.exists():
            raise DataSourceError(f"{name}: no data at {p}; pass an existing --data.init_args.path ({how_to_get})")
        return "path", p
    if source == "embedded":
        return "embedded", None
    if source == "download":
        if not network_available(host):
            raise DataSourceError(
                f"{name}: cannot download (no network); use --data.init_args.source embedded, "
                f"or --data.init_args.path DIR ({how_to_get})"
            )
        return "download", download()
    if source != "auto":
        raise DataSourceError(f"{name}: unknown source {source!r}; use auto, embedded, download or path")
    local = full_copy()
    if local is not None:
        rank_zero_info(f"[dl-labs] {name}: using the full local copy at {local}")
        return "path", local
    if network_available(host):
        try:
            return "download", download()
        except Exception as err:  # noqa: BLE001 - any downloader failure falls back to embedded, loudly
            rank_zero_warn(f"[dl-labs] {name}: download failed ({err}); falling back to embedded data")
    rank_zero_warn(
        f"[dl-labs] {name}: NO FULL DATA SET FOUND, using the small EMBEDDED sample. "
        f"Results are not comparable with the full set. To use it: {how_to_get}"
    )
    return "embedded", None
