"""Server-side staff sessions: creation, lookup with time-outs, touch, rotation, revocation.

A session is a `StaffSession` row named by a random 256-bit token; the browser holds the
token, the database only its SHA-256, so a database reader cannot ride a session. These
functions take a `Session` and never commit (the web glue in `auth.sessions` does).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth.models import StaffSession, User
from core.clock import utcnow
from core.db import new_id

TOKEN_BYTES = 32
TOUCH_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often


@dataclass(frozen=True)
class Limits:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_config(cls, config) -> Limits:
        return cls(
            idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
            absolute=timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]),
        )


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    session: Session, user: User, user_agent: str, remote_addr: str | None,
    stepped_up: bool = False,
) -> tuple[str, StaffSession]:
    """A new session for `user`: (the token for the cookie, the row)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    row = StaffSession(
        id=new_id(), token_hash=hash_session_token(token), user_id=user.id, created_at=now,
        last_seen_at=now, stepped_up_at=now if stepped_up else None,
        user_agent_class=user_agent_class(user_agent), ip_prefix=ip_prefix(remote_addr),
    )
    session.add(row)
    session.flush()
    return token, row


def find_session(
    session: Session, token: str | None, limits: Limits
) -> tuple[StaffSession, User] | None:
    """The live session and its active user for `token`; expired ones are revoked."""
    if not token:
        return None
    row = session.scalars(
        select(StaffSession).where(StaffSession.token_hash == hash_session_token(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    reason = _expiry_reason(row, limits, utcnow())
    user = session.get(User, row.user_id)
    if reason is None and (user is None or not user.active):
        reason = "user_inactive"
    if reason is not None:
        revoke(session, row, reason)
        return None
    return row, user


def touch(session: Session, row: StaffSession) -> bool:
    """Record activity (at most every TOUCH_EVERY); True when the row was written."""
    now = utcnow()
    if now - row.last_seen_at < TOUCH_EVERY:
        return False
    row.last_seen_at = now
    session.flush()
    return True


def rotate(session: Session, row: StaffSession) -> str:
    """Give the session a new token (the old cookie stops working); returns the new token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row.token_hash = hash_session_token(token)
    session.flush()
    return token


def mark_stepped_up(session: Session, row: StaffSession) -> str:
    """Record a fresh passkey assertion and rotate the session's token."""
    row.stepped_up_at = utcnow()
    return rotate(session, row)


def revoke(session: Session, row: StaffSession, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_reason = reason
        session.flush()


def revoke_all_for_user(session: Session, user_id: str, reason: str) -> int:
    """Revoke every live session of a user; returns how many were live."""
    return session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount


def stepped_up_within(row: StaffSession | None, window: timedelta) -> bool:
    if row is None or row.stepped_up_at is None:
        return False
    return utcnow() - row.stepped_up_at <= window


def _expiry_reason(row: StaffSession, limits: Limits, now: datetime) -> str | None:
    if now - row.created_at > limits.absolute:
        return "absolute_timeout"
    if now - row.last_seen_at > limits.idle:
        return "idle_timeout"
    return None


BROWSERS = (("edg/", "edge"), ("firefox/", "firefox"), ("chrome/", "chrome"),
            ("chromium/", "chrome"), ("safari/", "safari"))
SYSTEMS = (("android", "android"), ("iphone", "ios"), ("ipad", "ios"),
           ("windows", "windows"), ("mac os", "macos"), ("linux", "linux"))


def user_agent_class(user_agent: str | None) -> str:
    """A coarse `browser/system` label (never the full User-Agent string)."""
    text = (user_agent or "").lower()
    browser = next((name for marker, name in BROWSERS if marker in text), "other")
    system = next((name for marker, name in SYSTEMS if marker in text), "other")
    return f"{browser}/{system}"


def ip_prefix(remote_addr: str | None) -> str:
    """The network, not the address: IPv4 /24, IPv6 /48."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return ""
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))
