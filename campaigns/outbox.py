"""Claiming due outbox rows with a lease, and settling rows whose sender vanished.

On PostgreSQL several senders may run: `FOR UPDATE SKIP LOCKED` hands each row to one of
them, and the compare-and-set on `status` refuses a double claim on every engine (SQLite
runs one sender). A claimed row is in `sending` with a lease. Just before its batch is
handed to the relay the row is *armed* (its note says so, committed before the SMTP
conversation). When a lease runs out — the sender died — an armed row may have been
delivered, so it becomes `unknown` (visible, listed by `unknown_rows`, never resent); a
row claimed but never armed was not handed to the relay and goes back to the queue.
A row in `sending` without the "claimed" note is treated as armed (the safe default).

`TEST_UNSAFE_CLAIM` (app config, tests only) claims without the row lock and without the
compare-and-set, with a pause between the two, to prove the exactly-once test can fail.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.models import OutboxMessage, OutboxStatus, Workflow, WorkflowStatus

LEASE = timedelta(minutes=10)
CLAIM_LIMIT = 100
RETRY_BACKOFF = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
CLAIMED_NOTE = "claimed by a sender; not yet handed to the relay"
ARMED_NOTE = "sender stopped before recording the outcome"
UNSAFE_PAUSE_SECONDS = 0.2


def lease() -> timedelta:
    """How long a claim holds: `SEND_LEASE_SECONDS` in app config, else ten minutes."""
    seconds = current_app.config.get("SEND_LEASE_SECONDS")
    return timedelta(seconds=int(seconds)) if seconds else LEASE


def claim_limit() -> int:
    return int(current_app.config.get("SEND_CLAIM_LIMIT") or CLAIM_LIMIT)


def expire_leases(session: Session, now: datetime) -> dict[str, int]:
    """Settle rows whose lease ran out: armed -> `unknown`, only claimed -> `queued`."""
    stale = (OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now)
    requeued = session.execute(
        update(OutboxMessage)
        .where(*stale, OutboxMessage.last_error == CLAIMED_NOTE)
        .values(status=OutboxStatus.QUEUED, lease_until=None, last_error="")
    ).rowcount or 0
    unknown = session.execute(
        update(OutboxMessage).where(*stale)
        .values(status=OutboxStatus.UNKNOWN, lease_until=None, last_error=ARMED_NOTE)
    ).rowcount or 0
    return {"unknown": unknown, "requeued": requeued}


def _due_ids(session: Session, now: datetime, limit: int, lock: bool) -> list[str]:
    query = (
        select(OutboxMessage.id)
        .join(Workflow, Workflow.id == OutboxMessage.workflow_id)
        .where(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.due_at <= now,
               Workflow.status == WorkflowStatus.ACTIVE)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    return list(session.scalars(query))


def claim_due(session: Session, now: datetime, limit: int | None = None,
              lease_from: datetime | None = None) -> list[str]:
    """Lease up to `limit` due rows of active workflows to this sender; returns their ids.

    `now` decides what is due; the lease runs from `lease_from` (default `now`).
    """
    unsafe = bool(current_app.config.get("TEST_UNSAFE_CLAIM"))
    ids = _due_ids(session, now, limit or claim_limit(), lock=not unsafe)
    if not ids:
        return []
    condition = [OutboxMessage.id.in_(ids)]
    if unsafe:
        time.sleep(UNSAFE_PAUSE_SECONDS)  # widen the window between select and update
    else:  # compare-and-set: only rows still queued are ours
        condition.append(OutboxMessage.status == OutboxStatus.QUEUED)
    claimed = session.scalars(
        update(OutboxMessage).where(*condition)
        .values(status=OutboxStatus.SENDING, lease_until=(lease_from or now) + lease(),
                last_error=CLAIMED_NOTE)
        .returning(OutboxMessage.id)
    ).all()
    return sorted(claimed, key=ids.index)


def arm(session: Session, ids: list[str], lease_from: datetime) -> int:
    """Mark claimed rows as about to be handed to the relay (commit before sending)."""
    if not ids:
        return 0
    return session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
        .values(last_error=ARMED_NOTE, lease_until=lease_from + lease())
    ).rowcount or 0


def release(session: Session, ids: list[str]) -> int:
    """Give claimed rows back to the queue untouched (nothing was sent for them)."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
        .values(status=OutboxStatus.QUEUED, lease_until=None, last_error="")
    )
    return result.rowcount or 0


def unknown_rows(session: Session, workflow_id: str | None = None) -> list[dict]:
    """Rows that may or may not have been delivered, for an operator to review (no PHI)."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.UNKNOWN)
    if workflow_id:
        query = query.where(OutboxMessage.workflow_id == workflow_id)
    return [
        {"id": r.id, "workflow_id": r.workflow_id, "step": r.step_index,
         "message_id": r.message_id, "due_at": r.due_at, "reason": r.last_error}
        for r in session.scalars(query.order_by(OutboxMessage.due_at, OutboxMessage.id))
    ]


def retry_at(now: datetime, attempts: int) -> datetime | None:
    """When to try a temporarily refused row again; None once retries are used up."""
    if attempts > len(RETRY_BACKOFF):
        return None
    return now + RETRY_BACKOFF[attempts - 1]
