"""The audit trail: every sign-in, PHI view, export, segment run and send is recorded.

Each event's hash covers its fields and the previous hash, so editing or deleting a row
breaks the chain (`flask audit verify`). Details hold ids and counts, never PHI.

Several processes append at once (web workers, senders, the scheduler): on PostgreSQL a
transaction-scoped advisory lock makes them take turns, and on every engine `prev_hash`
is unique, so a chain that would fork is refused by the database instead.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.clock import isoz, utcnow
from core.models import AuditEvent

GENESIS = "0" * 64


def _digest(prev_hash: str, at: str, actor: str, action: str, target: str, details: str) -> str:
    payload = json.dumps([prev_hash, at, actor, action, target, details]).encode()
    return hashlib.sha256(payload).hexdigest()


LOCK_KEY = 0x53_57_41_55_44_49_54  # "SWAUDIT"


def _take_turn(session: Session) -> None:
    """Serialise appenders until the caller's transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def record(session: Session, actor: str, action: str, target: str = "", **details) -> None:
    """Append one event to the chain (in the caller's transaction)."""
    _take_turn(session)
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    at = utcnow().replace(microsecond=0)
    body = json.dumps(details, sort_keys=True, default=str)
    event = AuditEvent(
        at=at, actor=actor, action=action, target=target, details=body, prev_hash=prev,
        hash=_digest(prev, isoz(at), actor, action, target, body),
    )
    session.add(event)
    session.flush()


def verify(session: Session) -> tuple[bool, int, int | None]:
    """Walk the chain: (intact, events checked, id of the first broken event)."""
    prev = GENESIS
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        expected = _digest(
            prev, isoz(event.at), event.actor, event.action, event.target, event.details
        )
        if event.prev_hash != prev or event.hash != expected:
            return False, count, event.id
        prev = event.hash
        count += 1
    return True, count, None
