"""Scheduled segment work: bring every segment's membership up to the app's clock."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import utcnow
from core.db import new_session
from segments.models import Segment
from segments.service import load_population, refresh_membership


def refresh_all_segments() -> int:
    """Recompute each segment once against one decrypted population; returns changes."""
    changes = 0
    with new_session() as session:
        population = load_population(session)
        for segment in session.scalars(select(Segment).order_by(Segment.name)):
            entered, exited = refresh_membership(session, segment, utcnow(), population)
            changes += len(entered) + len(exited)
        session.commit()
    return changes
