"""Engagement: raw open, click, unsubscribe and conversion events, classified at report time."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Instant, RowId


class EngagementEvent(Base):
    """One hit on a tracking endpoint or one attributed conversion; never holds PHI.

    `classification` is `human`, `machine_open` (privacy proxy) or `scanner_click`.
    """

    __tablename__ = "engagement_events"

    id: Mapped[RowId]
    outbox_id: Mapped[str] = mapped_column(
        ForeignKey("outbox.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # open | click | unsubscribe | conversion
    occurred_at: Mapped[Instant]
    classification: Mapped[str] = mapped_column(String(16), default="human")
    user_agent_class: Mapped[str] = mapped_column(String(40), default="")
