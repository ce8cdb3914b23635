"""Size and record caps for one import, from the app's configuration.

`CDP_MAX_FILE_BYTES` (default 2 GiB) caps each file read; `CDP_MAX_ROWS` (default
5,000,000) caps the records of each file. Both can be set in `instance/config.py` (or in
a test's config). Going over fails the import before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app, has_app_context

from cdp.report import ImportFailed

DEFAULT_MAX_FILE_BYTES = 2 * 1024**3
DEFAULT_MAX_ROWS = 5_000_000


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_rows: int = DEFAULT_MAX_ROWS

    @classmethod
    def from_config(cls) -> Limits:
        if not has_app_context():
            return cls()
        config = current_app.config
        return cls(int(config.get("CDP_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)),
                   int(config.get("CDP_MAX_ROWS", DEFAULT_MAX_ROWS)))


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def check_size(path: Path, limits: Limits) -> None:
    """Fail when the file is larger than the configured cap."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImportFailed(path.name, "cannot be read (missing or unreadable)") from exc
    if size > limits.max_bytes:
        raise ImportFailed(path.name, f"is {_size(size)}, over the import limit of "
                           f"{_size(limits.max_bytes)} (CDP_MAX_FILE_BYTES); split the file")


def check_rows(name: str, count: int, limits: Limits) -> None:
    """Fail when a file holds more records than the configured cap."""
    if count > limits.max_rows:
        raise ImportFailed(name, f"holds more than {limits.max_rows:,} records, the import "
                           "limit (CDP_MAX_ROWS); split the file", row=limits.max_rows + 1)
