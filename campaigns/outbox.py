"""Claiming due outbox rows with a lease, and settling rows whose sender vanished.

On PostgreSQL several senders may run: `FOR UPDATE SKIP LOCKED` hands each row to one of
them. On SQLite one sender runs; the compare-and-set on `status` still refuses a double
claim. A row left in `sending` past its lease may have been sent before the sender died,
so it becomes `unknown` (visible) instead of being sent again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.models import OutboxMessage, OutboxStatus, Workflow, WorkflowStatus

LEASE = timedelta(minutes=10)
RETRY_BACKOFF = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))


def expire_leases(session: Session, now: datetime) -> int:
    """Rows stuck in `sending` past their lease become `unknown`; returns how many."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now)
        .values(status=OutboxStatus.UNKNOWN, lease_until=None,
                last_error="sender stopped before recording the outcome")
    )
    return result.rowcount or 0


def claim_due(session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Lease up to `limit` due rows of active workflows to this sender; returns their ids."""
    query = (
        select(OutboxMessage.id)
        .join(Workflow, Workflow.id == OutboxMessage.workflow_id)
        .where(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.due_at <= now,
               Workflow.status == WorkflowStatus.ACTIVE)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    ids = list(session.scalars(query))
    claimed = []
    for row_id in ids:  # compare-and-set: only rows still queued are ours
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status == OutboxStatus.QUEUED)
            .values(status=OutboxStatus.SENDING, lease_until=now + LEASE)
        )
        if result.rowcount == 1:
            claimed.append(row_id)
    return claimed


def release(session: Session, ids: list[str]) -> int:
    """Give claimed rows back to the queue untouched (nothing was sent for them)."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
        .values(status=OutboxStatus.QUEUED, lease_until=None)
    )
    return result.rowcount or 0


def retry_at(now: datetime, attempts: int) -> datetime | None:
    """When to try a temporarily refused row again; None once retries are used up."""
    if attempts > len(RETRY_BACKOFF):
        return None
    return now + RETRY_BACKOFF[attempts - 1]
