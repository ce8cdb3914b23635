"""Campaigns: email templates, drip workflows, enrolments, the outbox and tracked links.

The outbox row is the unit of exactly-once sending: `idempotency_key` (workflow × step ×
patient) is unique and the Message-ID is derived from it, so a retry or a second enrolment
can never produce a second message. Tokens in URLs are random; only their SHA-256 is stored.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Ciphertext, Instant, RowId, UTCDateTime, utc_now_plain


class Purpose(StrEnum):
    CARE_REMINDER = "care_reminder"
    OPERATIONS = "operations"
    MARKETING = "marketing"


class WorkflowStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"  # consent, suppression or a missing required field at claim time
    FAILED = "failed"
    UNKNOWN = "unknown"  # connection lost after DATA: maybe delivered, never resent


class EmailTemplate(Base):
    """A marketer-written template: Jinja in a sandbox, merge fields checked at save."""

    __tablename__ = "email_templates"

    id: Mapped[RowId]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)


class Workflow(Base):
    """A drip: `steps` is a list of `{"template": name, "delay_days": N}` (validated)."""

    __tablename__ = "workflows"

    id: Mapped[RowId]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    segment_id: Mapped[str] = mapped_column(ForeignKey("segments.id"))
    purpose: Mapped[str] = mapped_column(String(20), default=Purpose.CARE_REMINDER)
    status: Mapped[str] = mapped_column(String(12), default=WorkflowStatus.DRAFT)
    steps: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("workflow_id", "patient_id"),)

    id: Mapped[RowId]
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    enrolled_at: Mapped[Instant]


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[RowId]
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(120), unique=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), index=True)
    segment_id: Mapped[str] = mapped_column(ForeignKey("segments.id"), index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    due_at: Mapped[Instant] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    open_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    unsubscribe_token_hash: Mapped[str | None] = mapped_column(
        String(64), unique=True, nullable=True
    )


class TrackedLink(Base):
    """A link of a rendered message; the click token maps to its destination server-side."""

    __tablename__ = "tracked_links"

    id: Mapped[RowId]
    outbox_id: Mapped[str] = mapped_column(
        ForeignKey("outbox.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    url_enc: Mapped[Ciphertext]
