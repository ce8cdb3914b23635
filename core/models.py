"""Infrastructure tables: wrapped data keys, key rotations, the audit chain, the dev mailbox."""

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
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class KeyRotation(Base):
    """Progress of one `flask keys rotate-data` run, committed with every batch.

    The cursor is (pass, table, last row id): a killed run resumes after the last
    committed batch. A run ends with a pass that finds nothing left on the old keys.
    """

    __tablename__ = "key_rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(12), default="running")  # running | completed
    data_from: Mapped[int] = mapped_column(Integer)
    data_to: Mapped[int] = mapped_column(Integer)
    index_from: Mapped[int] = mapped_column(Integer)
    index_to: Mapped[int] = mapped_column(Integer)
    pass_number: Mapped[int] = mapped_column(Integer, default=1)
    table_name: Mapped[str] = mapped_column(String(64), default="")
    last_id: Mapped[str] = mapped_column(String(64), default="")
    rows_changed: Mapped[int] = mapped_column(Integer, default=0)
    changed_this_pass: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEvent(Base):
    """One append-only, hash-chained record of who did what (never which patient values)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[Instant]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # one successor each
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class CaughtMessage(Base):
    """A message received by the development SMTP server, stored encrypted (it holds PHI)."""

    __tablename__ = "caught_messages"

    id: Mapped[RowId]
    received_at: Mapped[Instant]
    tls: Mapped[bool]
    raw: Mapped[Ciphertext]
