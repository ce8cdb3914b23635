"""WebAuthn challenges kept server-side: bound to a purpose and a user, used once, short-lived."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from auth.errors import AuthRefused
from auth.models import WebAuthnChallenge
from core.clock import utcnow
from core.db import new_id

CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_BYTES = 32
REGISTER = "register"
AUTHENTICATE = "authenticate"
STEP_UP = "step_up"


def issue_challenge(
    session: Session, purpose: str, user_id: str | None, session_id: str | None = None
) -> WebAuthnChallenge:
    """Store a fresh random challenge for one ceremony (abandoned ones are swept first).

    `session_id` binds a step-up challenge to the server-side session that asked for it.
    """
    purge_expired(session)
    row = WebAuthnChallenge(
        id=new_id(),
        purpose=purpose,
        user_id=user_id,
        session_id=session_id,
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        expires_at=utcnow() + CHALLENGE_TTL,
    )
    session.add(row)
    session.flush()
    return row


def consume_challenge(
    session: Session, challenge_id: str | None, purpose: str, user_id: str | None,
    session_id: str | None = None,
) -> bytes:
    """Delete the challenge and return its bytes; refuse unknown, mismatched or expired ones."""
    row = _find(session, challenge_id, purpose, user_id)
    if row.session_id != session_id:
        raise _refused("challenge_session_mismatch")
    removed = session.execute(
        delete(WebAuthnChallenge).where(WebAuthnChallenge.id == row.id)
    ).rowcount
    if removed != 1:  # another request consumed it first
        raise _refused("challenge_reused")
    if row.expires_at <= utcnow():
        raise AuthRefused("The sign-in request expired; please try again.", "challenge_expired")
    return row.challenge


def purge_expired(session: Session) -> int:
    """Remove challenges that can no longer be used."""
    stale = delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= utcnow())
    return session.execute(stale).rowcount


def _find(
    session: Session, challenge_id: str | None, purpose: str, user_id: str | None
) -> WebAuthnChallenge:
    if not challenge_id:
        raise _refused("challenge_missing")
    row = session.scalars(
        select(WebAuthnChallenge).where(
            WebAuthnChallenge.id == challenge_id, WebAuthnChallenge.purpose == purpose
        )
    ).first()
    if row is None:
        raise _refused("challenge_reused")
    if row.user_id != user_id:
        raise _refused("challenge_user_mismatch")
    return row


def _refused(reason: str) -> AuthRefused:
    return AuthRefused("The sign-in request is no longer valid; please try again.", reason)
