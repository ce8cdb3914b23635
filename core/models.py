"""Infrastructure tables: wrapped data keys, the audit chain, the dev mailbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Ciphertext, Instant, RowId, UTCDateTime, utc_now_plain


class KeyVersion(Base):
    """A data or blind-index key, wrapped by the master key (which never is stored)."""

    __tablename__ = "key_versions"
    __table_args__ = (UniqueConstraint("purpose", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)


class AuditEvent(Base):
    """One append-only, hash-chained record of who did what (never which patient values)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[Instant]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class CaughtMessage(Base):
    """A message received by the development SMTP server, stored encrypted (it holds PHI)."""

    __tablename__ = "caught_messages"

    id: Mapped[RowId]
    received_at: Mapped[Instant]
    tls: Mapped[bool]
    raw: Mapped[Ciphertext]
