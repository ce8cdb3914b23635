"""Private files: PHI exports and secrets, created readable by their owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
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


def create_once(path: Path, content: bytes) -> bool:
    """Create `path` (mode 0600) holding `content`, unless it exists; whether we made it.

    Several processes may start at once on a new instance folder: the content is written to
    a private temporary file first and then hard-linked into place, so another process never
    sees the file half-written, and exactly one creator wins.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
