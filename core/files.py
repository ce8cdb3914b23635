"""Files that hold PHI (exports): created readable by their owner only."""

from __future__ import annotations

import os
from typing import TextIO

from core.errors import SendwellError


def open_private(path: str) -> TextIO:
    """Open `path` for writing text with mode 0600 (an existing file is narrowed too)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise SendwellError(f"cannot write {path}: {exc.strerror}") from exc
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")
