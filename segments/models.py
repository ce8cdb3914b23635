"""Segments: validated rule trees stored as JSON, and their membership."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Instant, RowId, UTCDateTime, utc_now_plain


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[RowId]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    rule: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SegmentMember(Base):
    """Current membership; entries and exits are kept as `SegmentChange` rows."""

    __tablename__ = "segment_members"
    __table_args__ = (UniqueConstraint("segment_id", "patient_id"),)

    id: Mapped[RowId]
    segment_id: Mapped[str] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    entered_at: Mapped[Instant]


class SegmentChange(Base):
    __tablename__ = "segment_changes"

    id: Mapped[RowId]
    segment_id: Mapped[str] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    change: Mapped[str] = mapped_column(String(8))  # entered | exited
    at: Mapped[Instant]
