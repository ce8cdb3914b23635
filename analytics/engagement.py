"""Recording engagement from the public tracking endpoints: token lookups, opens, clicks
and unsubscribes.

URL tokens are opaque random strings issued by campaigns when a message is rendered; only
their SHA-256 is stored, so a lookup hashes the presented token and matches the hash.
Raw events are always written (machine hits included) and classified when reports run.
Functions take a `Session` and never commit: the tracking routes own the transaction.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics import classify
from analytics.models import EngagementEvent
from campaigns.models import OutboxMessage, TrackedLink
from core.crypto import DecryptionError, key_ring
from patients import consent
from patients.service import load_profile

# >= 128 random bits in URL-safe base64 (22 chars) or hex (32 chars); anything else is
# refused before touching the database.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")


def token_hash(token: str) -> str | None:
    """SHA-256 hex of a well-formed token; None for anything that cannot be one of ours."""
    if not TOKEN_RE.fullmatch(token or ""):
        return None
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def message_for_open(session: Session, token: str) -> OutboxMessage | None:
    digest = token_hash(token)
    if digest is None:
        return None
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.open_token_hash == digest)
    ).first()


def message_for_unsubscribe(session: Session, token: str) -> OutboxMessage | None:
    digest = token_hash(token)
    if digest is None:
        return None
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.unsubscribe_token_hash == digest)
    ).first()


def link_for_click(session: Session, token: str) -> TrackedLink | None:
    digest = token_hash(token)
    if digest is None:
        return None
    return session.scalars(select(TrackedLink).where(TrackedLink.token_hash == digest)).first()


def destination(link: TrackedLink) -> str | None:
    """The registered URL of a tracked link, or None if it is not a safe http(s) URL."""
    try:
        value = key_ring().decrypt_json(link.url_enc, "tracked_links", "url_enc", link.id)
    except (DecryptionError, ValueError):
        return None
    if isinstance(value, dict):
        value = value.get("url")
    if not isinstance(value, str) or any(ch in value for ch in "\r\n\\"):
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return value


def _add(session: Session, outbox_id: str, kind: str, ua_class: str, at: datetime) -> None:
    session.add(
        EngagementEvent(
            outbox_id=outbox_id, kind=kind, occurred_at=at, user_agent_class=ua_class,
            classification=classify.classification(kind, ua_class),
        )
    )


def _has_event(session: Session, outbox_id: str, kind: str, classification: str | None) -> bool:
    query = select(EngagementEvent.id).where(
        EngagementEvent.outbox_id == outbox_id, EngagementEvent.kind == kind
    )
    if classification is not None:
        query = query.where(EngagementEvent.classification == classification)
    return session.scalars(query.limit(1)).first() is not None


def record_open(session: Session, message: OutboxMessage, ua_class: str, at: datetime) -> None:
    """One open hit on the pixel of `message` (machine hits too; reports tell them apart)."""
    _add(session, message.id, "open", ua_class, at)
    session.flush()


def record_click(session: Session, link: TrackedLink, ua_class: str, at: datetime) -> None:
    """One click, plus the open it implies when the message has no open of that kind yet."""
    _add(session, link.outbox_id, "click", ua_class, at)
    implied = classify.classification("open", ua_class)
    if not _has_event(session, link.outbox_id, "open", implied):
        _add(session, link.outbox_id, "open", ua_class, at)
    session.flush()


def already_unsubscribed(session: Session, message: OutboxMessage) -> bool:
    return _has_event(session, message.id, "unsubscribe", None)


def unsubscribe(session: Session, message: OutboxMessage, at: datetime) -> bool:
    """Suppress the recipient's address (idempotent); True the first time for this message."""
    email = load_profile(session, message.patient_id).get("email")
    if email:
        consent.suppress(session, email, "unsubscribed")
    if _has_event(session, message.id, "unsubscribe", None):
        return False
    _add(session, message.id, "unsubscribe", classify.BROWSER, at)
    session.flush()
    return True
